/*
 * thread.c - starts threads with signals blocked, the creator's log route
 * and the C locale (thread.h).
 *
 * The mask is set around pthread_create, since a new thread inherits its
 * creator's: so no signal can land in it even before its first line runs.
 * The route is carried in a small block the new thread frees.
 */
#include "common/thread.h"

#include "common/log.h"

#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>

/* One C locale for the process, made at the first use and kept (a
 * locale_t in use by a thread must not be freed). */
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void
c_locale_make(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

void
thread_use_c_locale(void)
{
	pthread_once(&c_locale_once, c_locale_make);
	if (c_locale != (locale_t)0)
		uselocale(c_locale);
}

struct start {
	void *(*fn)(void *);
	void *arg;
	const struct log_route *route;
};

static void *
trampoline(void *p)
{
	struct start s = *(struct start *)p;

	free(p);
	log_route_bind(s.route);
	thread_use_c_locale();
	return s.fn(s.arg);
}

int
thread_start(pthread_t *t, size_t stack, void *(*fn)(void *), void *arg)
{
	struct start *s = malloc(sizeof(*s));
	pthread_attr_t attr;
	sigset_t all, old;
	int rc;

	if (s == NULL)
		return ENOMEM;
	s->fn = fn;
	s->arg = arg;
	s->route = log_route_current();
	rc = pthread_attr_init(&attr);
	if (rc != 0) {
		free(s);
		return rc;
	}
	if (stack > 0)
		rc = pthread_attr_setstacksize(&attr, stack);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (rc == 0)
		rc = pthread_create(t, &attr, trampoline, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		free(s);
	return rc;
}
