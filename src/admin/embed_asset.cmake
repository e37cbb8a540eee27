# embed_asset.cmake - turns one file into a C array, at build time.
#
#   cmake -DSRC=src/admin/assets/app.js -DDST=asset_app_js.inc
#         -DNAME=asset_app_js -P embed_asset.cmake
#
# writes DST holding `static const unsigned char NAME[]` with the bytes of
# SRC and one NUL after them (so an empty file is still a valid array, and
# sizeof(NAME) - 1 is the file's length). Only CMake itself is needed: no
# xxd, nothing from the internet. src/admin/assets.c includes the result.
foreach(var SRC DST NAME)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_asset.cmake: -D${var}=... is required")
  endif()
endforeach()
file(READ "${SRC}" hex HEX)
string(LENGTH "${hex}" digits)
math(EXPR size "${digits} / 2")
# 16 bytes a line: "0xNN, " each (CMake's regex has no {16}).
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1, " body "${hex}")
string(REPEAT "0x[0-9a-f][0-9a-f], " 16 line)
string(REGEX REPLACE "(${line})" "\\1\n\t" body "${body}")
get_filename_component(base "${SRC}" NAME)
file(WRITE "${DST}"
  "/* Generated from ${base} (${size} bytes) by embed_asset.cmake: do not edit. */\n"
  "static const unsigned char ${NAME}[] = {\n\t${body}0x00\n};\n")
