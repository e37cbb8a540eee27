# Installs what needs the install prefix itself: the systemd unit (its
# ExecStart names the binary and the config by absolute path) and the
# logrotate snippet (under the system configuration folder). Run by
# `cmake --install` (make install) after RFTP_SOURCE_DIR and RFTP_BINARY_DIR
# are set by the install(CODE) before it in CMakeLists.txt; it reads
# CMAKE_INSTALL_PREFIX at install time, so `--prefix` is honoured, and
# file(INSTALL) adds $DESTDIR.
#
# The configuration folder follows the GNU convention: PREFIX/etc, except
# /etc for the prefix /usr (a distribution's package).
set(RFTP_PREFIX "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/+$" "" RFTP_PREFIX "${RFTP_PREFIX}")
if(RFTP_PREFIX STREQUAL "/usr" OR RFTP_PREFIX STREQUAL "")
  set(RFTP_SYSCONFDIR "/etc")
else()
  set(RFTP_SYSCONFDIR "${RFTP_PREFIX}/etc")
endif()
set(RFTP_SBINDIR "${RFTP_PREFIX}/sbin")

# One staging folder per DESTDIR and prefix: two installs from the same
# build at once (the tests do that) must not write each other's unit.
string(MD5 RFTP_STAGE "$ENV{DESTDIR}|${RFTP_PREFIX}")
set(RFTP_STAGE "${RFTP_BINARY_DIR}/dist/${RFTP_STAGE}")
configure_file("${RFTP_SOURCE_DIR}/dist/relayftpd.service.in"
  "${RFTP_STAGE}/relayftpd.service" @ONLY)
file(INSTALL DESTINATION "${RFTP_PREFIX}/lib/systemd/system" TYPE FILE
  FILES "${RFTP_STAGE}/relayftpd.service")
file(REMOVE_RECURSE "${RFTP_STAGE}")
file(INSTALL DESTINATION "${RFTP_SYSCONFDIR}/logrotate.d" TYPE FILE
  RENAME relayftpd FILES "${RFTP_SOURCE_DIR}/dist/relayftpd.logrotate")
