/*
 * syserr.h - what an errno says about the process rather than the thing
 * asked for.
 *
 * Owns: the one list of errors that mean "this process (or the kernel) is
 * short of descriptors or memory for now": a call that failed so may
 * work once others let go, where ENOENT or EACCES never will by waiting.
 * Each caller adds the errors its own call may also wait out.
 */
#ifndef RFTP_SYSERR_H
#define RFTP_SYSERR_H

#include <errno.h>

static inline int
syserr_lacking(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOMEM ||
	    err == ENOBUFS;
}

#endif
