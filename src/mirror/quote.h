/*
 * quote.h - the commands the transport sends through libcurl's
 * CURLOPT_QUOTE, written so the target reads back exactly the names meant.
 *
 * Owns: turning a verb and its arguments (remote paths, or a date for an
 * SFTP "mtime") into one quote command line, for FTP and for SFTP. Pure:
 * no I/O, no allocation, so it is unit-tested over hostile names and safe to
 * reuse for any new quote command (every quote command must come from here:
 * a name must never become a command or a second argument).
 *
 * FTP (RFC 959 section 4.1.3): a command's argument is the rest of the line
 * and libcurl sends the text as it is, so names need no escaping, but a CR
 * or LF would end the command and start another: refused. Only the last
 * argument may contain a space (it is the rest of the line).
 *
 * SFTP: libcurl (lib/curl_path.c, Curl_get_pathname, 7.88) splits an
 * unquoted argument at white space and maps "/~/" to the home folder; in
 * double quotes it reads every byte as it is except '\', which must be
 * followed by '"', '\'' or '\', and '"', which ends the argument. So each
 * argument is written in double quotes with '"' and '\' preceded by '\'.
 * Empty quotes are an error there: an empty argument is refused.
 */
#ifndef RFTP_QUOTE_H
#define RFTP_QUOTE_H

#include <stddef.h>

enum quote_proto {
	QUOTE_FTP,
	QUOTE_SFTP,
};

enum quote_rc {
	QUOTE_OK = 0,
	QUOTE_TOO_LONG,  /* out is too small: nothing usable was written */
	QUOTE_UNSAYABLE, /* an argument cannot be sent (CR/LF in FTP, empty,
	                  * a space in a non-last FTP argument) */
};

/*
 * Writes "VERB ARG1" or "VERB ARG1 ARG2" (arg2 NULL: one argument) into
 * out, outlen bytes with the NUL. verb is ours ("RNFR", "*rm", "rename",
 * "MFMT", "mtime"...; a leading '*' is libcurl's "may fail" mark) and is
 * copied as it is. On any result but QUOTE_OK, out is "" (when outlen > 0):
 * a cut command could name another file, so it is never half written.
 */
enum quote_rc quote_command(char *out, size_t outlen, enum quote_proto proto,
    const char *verb, const char *arg1, const char *arg2);

/* How a target sets a file's modification time (the transport learns it
 * once per connection). */
enum time_method {
	TM_UNKNOWN,    /* not learnt yet on this transport */
	TM_MFMT,       /* draft-somers-ftp-mfxx, listed in FEAT */
	TM_SITE_UTIME, /* SITE UTIME path atime mtime ctime UTC */
	TM_MDTM,       /* MDTM TIME path (vsftpd's mdtm_write) */
	TM_SFTP,       /* libcurl's sftp quote "mtime" */
	TM_NONE,       /* none works: the target cannot */
};

/*
 * Writes the command that sets path's modification time to when (14 digits
 * YYYYMMDDHHMMSS, UTC) with method m, under the rules of quote_command.
 * A NULL path (its absolute form could not be built) is QUOTE_TOO_LONG;
 * TM_UNKNOWN, TM_NONE or a when that is not 14 digits is QUOTE_UNSAYABLE.
 */
enum quote_rc quote_time_command(char *out, size_t outlen, enum time_method m,
    const char *when, const char *path);

/* Why quote_command refused, for an error message. */
const char *quote_strerror(enum quote_rc rc);

#endif
