/*
 * thread.h - how every thread of the daemon and the library starts.
 *
 * Owns: starting a thread with every signal blocked (an embedding
 * program's signals, and the daemon's SIGTERM/SIGHUP/SIGUSR1, reach only
 * the threads that wait for them), bound to its creator's log route
 * (log.h), so the lines of an embedded server's threads reach that
 * server's log callback, and in the C locale, whatever setlocale an
 * embedding program made: metrics ("le=\"0.001\""), xferlog's dates,
 * log lines and command names (strcasecmp) have one form (a German locale
 * wrote "0,001", which Prometheus cannot read; found from outside).
 */
#ifndef RFTP_THREAD_H
#define RFTP_THREAD_H

#include <pthread.h>
#include <stddef.h>

/* pthread_create with those two rules; stack 0: the default size.
 * 0, or an errno value. */
int thread_start(pthread_t *t, size_t stack, void *(*fn)(void *), void *arg);
/* Puts the calling thread in the C locale: for threads another library
 * starts and runs our code in (libmicrohttpd's). */
void thread_use_c_locale(void);

#endif
