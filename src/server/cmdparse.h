/*
 * cmdparse.h - pure parsing of what a client sends on the control channel.
 *
 * Owns: cleaning a raw line (Telnet IAC sequences, CR/LF), splitting it into
 * verb and argument, and parsing the address arguments of PORT and EPRT
 * (RFC 959 4.1.2, RFC 2428). No I/O, no session state: these functions take
 * untrusted bytes and are unit-tested and fuzzed directly.
 */
#ifndef RFTP_CMDPARSE_H
#define RFTP_CMDPARSE_H

#include <stddef.h>
#include <sys/socket.h>

#define CMD_VERB_MAX 8

enum line_err {
	LINE_OK,
	LINE_EMPTY,
	LINE_NUL,    /* embedded NUL byte */
	LINE_BADVERB /* verb too long or not letters */
};

/*
 * Cleans line in place (len bytes, no trailing LF): drops Telnet IAC
 * commands (RFC 854; IAC IAC is a literal 0xFF) and a trailing CR. Returns
 * the new length.
 */
size_t cmd_clean(char *line, size_t len);
/*
 * Splits a cleaned line into an upper-case verb (CMD_VERB_MAX bytes with
 * NUL) and *arg, which points into line after the single separating space
 * ("" when there is none). line is NUL-terminated at len by this call.
 */
enum line_err cmd_split(
    char *line, size_t len, char verb[CMD_VERB_MAX], const char **arg);
/* "h1,h2,h3,h4,p1,p2" -> IPv4 socket address. 0 on success. */
int cmd_parse_port(
    const char *arg, struct sockaddr_storage *ss, socklen_t *len);
/* "|1|132.235.1.2|6275|" or "|2|::1|6275|" (any delimiter 33-126). */
int cmd_parse_eprt(
    const char *arg, struct sockaddr_storage *ss, socklen_t *len);

#endif
