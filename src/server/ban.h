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

/* max 0 turns counting off (ban_check always says no). */
struct bans *bans_new(uint64_t max, uint64_t window_s, uint64_t ban_s);
void bans_free(struct bans *b);
/* Records a failed login; returns 1 if the address (its /64 for IPv6) is
 * now banned. */
int bans_fail(struct bans *b, const struct sockaddr_storage *addr);
/* 1 if addr (its /64 for IPv6) is banned now. */
int bans_check(struct bans *b, const struct sockaddr_storage *addr);
/* How many addresses (IPv6: /64 prefixes) are banned now; b may be NULL.
 * A scan of the table under its lock: for the admin's reads, not for
 * every connection. */
uint64_t bans_active(struct bans *b);

#endif
