/*
 * casetwin.h - names that differ only in letter case, on a target that
 * ignores case (casetwin.c; README: "A target that ignores letter case").
 *
 * For the worker (worker.c): each function takes the target's state and
 * the job being pushed; none frees or keeps what it is given. Those that
 * fail fill res->error and return -1.
 */
#ifndef RFTP_CASETWIN_H
#define RFTP_CASETWIN_H

#include <stddef.h>

struct job;
struct push_result;
struct target_state;
struct transport;

/* Whether a push or delete must look for path's twins (casetwin_find). */
int casetwin_matters(struct target_state *ts);
/* A home name (path or a folder on its way) that is path's on the target
 * and holds the name there (all: any such name) into twin: 1, 0 if none,
 * -1 if the home cannot be read. */
int casetwin_find(struct target_state *ts, const struct job *j,
    const char *path, int all, char *twin, size_t len);
/* Keeps what tp learnt of the target's letter case (logged once). */
void casetwin_note(struct target_state *ts, const struct transport *tp);
/* 1 if the refusal of path (res) is for good (a twin holds its name, or a
 * character Windows refuses): res made unsendable, saying why, and the
 * twin that holds the name into held (heldlen bytes; "" for a character);
 * else 0. */
int casetwin_refused(struct target_state *ts, const struct job *j,
    const char *path, struct push_result *res, char *held, size_t heldlen);
/* Queues twin's push again (folder: its MKD and its files'): 0, or -1. */
int casetwin_push_again(struct target_state *ts, const struct job *j,
    const char *twin, int folder, struct push_result *res);
/* After j's rename moved its old name's copy away: the old name's twin,
 * if any, is pushed again to hold the name. */
void casetwin_after_rename(struct target_state *ts, const struct job *j);
/* j, a folder renamed beside its twin (one name on a target that ignores
 * case): done as delete jobs for the old name's copies, then its
 * folders' RMDIR, and the new folder made and pushed. 0, or -1 (res). */
int casetwin_rename_folder(struct target_state *ts, const struct job *j,
    const char *twin, struct push_result *res);
/* The delete of j's path (rpath) beside twin: settled (kept where the
 * target ignores case) and twin pushed again. 0, or -1 (res). */
int casetwin_delete(struct target_state *ts, struct transport *tp,
    const struct job *j, const char *rpath, const char *twin,
    struct push_result *res);

#endif
