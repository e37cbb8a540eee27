/*
 * ban.h - per-address login failure counting and temporary bans.
 *
 * Owns: how many logins failed from each client address within
 * login_fail_window seconds, and which addresses are banned (refused with
 * 421 at connect and at PASS) until login_ban_time has passed. IPv4 is
 * counted per address, IPv6 per /64 prefix (what one host or site gets).
 * A bounded table, so a flood of addresses cannot grow memory: when full,
 * the entry seen longest ago that is not banned is reused; an active ban
 * is never evicted (with every slot banned, new failures go uncounted).
 */
#ifndef RFTP_BAN_H
#define RFTP_BAN_H

#include <stdint.h>
#include <sys/socket.h>

struct bans;

/*
 * An address as 16 bytes: IPv4 (also v4-mapped IPv6) as the v4-mapped
 * address, IPv6 whole (whole_v6: max_clients_per_ip's client) or as its
 * /64 prefix with the interface half zeroed (the bans'). The two kinds
 * never meet: a v4-mapped key has 0xffff in bytes 10-11.
 */
void ban_addr_key(
    const struct sockaddr_storage *a, int whole_v6, unsigned char out[16]);

/* max 0 turns counting off (ban_check always says no). */
struct bans *bans_new(uint64_t max, uint64_t window_s, uint64_t ban_s);
void bans_free(struct bans *b);
/* Records a failed login; returns 1 if the address (its /64 for IPv6) is
 * now banned. */
int bans_fail(struct bans *b, const struct sockaddr_storage *addr);
/*
 * A password from addr is about to be checked: 0 (then bans_end must
 * follow), 1 if addr is banned (no check), -1 if stop_fd (-1: none) became
 * readable while waiting. The checks in flight count with the failures
 * of the window: while they reach login_fail_max, a new one waits for one
 * to end, so that connections sending their passwords at once cannot try
 * more than login_fail_max before the ban (150 at once were all checked
 * with a limit of 10). Legitimate logins wait rather than fail; argon2id
 * admits only a few at a time anyway.
 */
int bans_begin(
    struct bans *b, const struct sockaddr_storage *addr, int stop_fd);
/* The check bans_begin admitted ended; failed: it counts as bans_fail
 * (returns 1 if addr is banned now). */
int bans_end(struct bans *b, const struct sockaddr_storage *addr, int failed);
/* 1 if addr (its /64 for IPv6) is banned now. */
int bans_check(struct bans *b, const struct sockaddr_storage *addr);
/* How many addresses (IPv6: /64 prefixes) are banned now; b may be NULL.
 * A scan of the table under its lock: for the admin's reads, not for
 * every connection. */
uint64_t bans_active(struct bans *b);

#endif
