/*
 * cmd_handlers.h - the command handlers the table in cmdtable.c points at.
 *
 * cmd_auth.c: login and session; cmd_tls.c: FTPS; cmd_info.c: settings and information;
 * cmd_fs.c: names and directories; cmd_xfer.c: data channel, transfers,
 * listings; cmd_hash.c: digests. Each handler replies on every path it takes.
 */
#ifndef RFTP_CMD_HANDLERS_H
#define RFTP_CMD_HANDLERS_H

#include "common/buf.h"
#include "common/upload_sink.h"

#include <stdint.h>

struct session;

#define HANDLER(name) void name(struct session *s, const char *arg)

/* cmd_auth.c */
HANDLER(cmd_user);
HANDLER(cmd_pass);
HANDLER(cmd_quit);
HANDLER(cmd_rein);

/* cmd_tls.c */
HANDLER(cmd_auth);
HANDLER(cmd_pbsz);
HANDLER(cmd_prot);
HANDLER(cmd_ccc);
void feat_tls(struct session *s, struct buf *line);
void feat_pbsz(struct session *s, struct buf *line);
void feat_prot(struct session *s, struct buf *line);

/* cmd_info.c */
HANDLER(cmd_noop);
HANDLER(cmd_syst);
HANDLER(cmd_feat);
HANDLER(cmd_acct);
HANDLER(cmd_smnt);
HANDLER(cmd_help);
HANDLER(cmd_opts);
HANDLER(cmd_stat);
HANDLER(cmd_type);
HANDLER(cmd_mode);
HANDLER(cmd_stru);
HANDLER(cmd_allo);
HANDLER(cmd_site);
HANDLER(cmd_clnt);
void feat_hash(struct session *s, struct buf *line);
void feat_mlst(struct session *s, struct buf *line);

/* cmd_fs.c */
HANDLER(cmd_pwd);
HANDLER(cmd_cwd);
HANDLER(cmd_cdup);
HANDLER(cmd_mkd);
HANDLER(cmd_rmd);
HANDLER(cmd_dele);
HANDLER(cmd_rnfr);
HANDLER(cmd_rnto);
HANDLER(cmd_size);
HANDLER(cmd_mdtm);
HANDLER(cmd_mfmt);
HANDLER(site_utime); /* SITE UTIME, from the SITE table in cmd_info.c */
/* Resolves a client path argument into vpath (RFTP_PATH_MAX). On failure it
 * has already replied (550/553 with the reason) and returns -1. */
int cmd_path(struct session *s, const char *arg, char *vpath);
/* The same for a name the command makes (STOR, STOU, APPE, MKD, RNTO): a
 * partial's name is refused with 553 ("not allowed"), where cmd_path says
 * 550 (no such file, as a client sees the folder). */
int cmd_new_path(struct session *s, const char *arg, char *vpath);
/* 553 for a name that would be an upload partial's (RFTP_PARTIAL_PREFIX). */
void cmd_reply_reserved(struct session *s);
/* session_change_begin, answering 451 when the mirror cannot record the
 * change (then -1: nothing may be changed). Every change of a home that
 * a command makes starts here. */
int cmd_change_begin(struct session *s, enum change_op op, const char *path,
    const char *new_path, struct change_token *tok);
/* 552 (and a log line "WHAT VPATH refused") for a full folder. */
void cmd_refuse_folder_full(
    struct session *s, const char *what, const char *vpath);

/* cmd_xfer.c */
HANDLER(cmd_pasv);
HANDLER(cmd_epsv);
HANDLER(cmd_port);
HANDLER(cmd_eprt);
HANDLER(cmd_rest);
HANDLER(cmd_retr);
HANDLER(cmd_stor);
HANDLER(cmd_stou);
HANDLER(cmd_appe);
HANDLER(cmd_abor);
HANDLER(cmd_list);
HANDLER(cmd_nlst);
HANDLER(cmd_mlsd);
HANDLER(cmd_mlst);

/* cmd_hash.c */
HANDLER(cmd_hash);
HANDLER(cmd_xmd5);
HANDLER(cmd_xsha1);
HANDLER(cmd_xsha256);
/* cmd_xfer.c: resolves arg and opens the regular file it names for
 * reading (RETR, the digests). Returns the descriptor (the caller closes
 * it) with *size, or -1 after replying 550/553. */
int cmd_open_plain(
    struct session *s, const char *arg, char *vpath, uint64_t *size);

#endif
