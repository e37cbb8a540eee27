/*
 * fixture.h - what unit tests share for files on disk: a temporary folder
 * per test, writing files into it, removing it, and finding an expected
 * line in the errors a loader reported; and the state of a config_load
 * test built from them.
 *
 * fixture.c is linked into every unit test (tests/CMakeLists.txt). The
 * functions that return int never assert, so setup and teardown can use
 * them and return their result to cmocka; the void ones fail the test.
 */
#ifndef RFTP_TEST_FIXTURE_H
#define RFTP_TEST_FIXTURE_H

#include "common/buf.h"
#include "common/config.h"

#include <limits.h>
#include <stddef.h>

/*
 * Makes /tmp/rftp-unit-NAME-XXXXXX and puts its real path (symlinks in
 * /tmp resolved, so it compares equal to realpath() results) in dir.
 * Returns 0, or -1 with nothing left behind.
 */
int fixture_tmpdir(const char *name, char *dir, size_t dirlen);
/* Removes path and everything below it, without following symlinks.
 * Returns 0, or -1 if anything could not be removed. */
int fixture_rmtree(const char *path);
/*
 * The end of a test's heap fixture f whose folder is dir (inside f): removes
 * dir, if it was made (dir[0] != '\0'), then frees f. For teardowns and a
 * setup's failure path. Returns fixture_rmtree's result (0 if no folder).
 */
int fixture_drop(void *f, const char *dir);
/* out = dir/name; fails the test if it does not fit. */
void fixture_join(char *out, size_t outlen, const char *dir, const char *name);
/*
 * Writes len bytes to dir/name (created or emptied, mode 0600) and, if
 * path is not NULL, puts the full path in path. Returns 0 or -1.
 */
int fixture_write(const char *dir, const char *name, const void *data,
    size_t len, char *path, size_t pathlen);
/* fixture_write of a string; fails the test on any error. */
void fixture_write_file(const char *dir, const char *name, const char *text,
    char *path, size_t pathlen);
/* errs contains "PATH:LINE: key 'KEY'" (or "PATH:LINE: " if key is NULL),
 * as inifile_error writes it; otherwise the test fails, printing errs. */
void fixture_expect_error_at(
    const struct buf *errs, const char *path, int line, const char *key);
/* errs contains text; otherwise the test fails, printing errs. */
void fixture_expect_text(const struct buf *errs, const char *text);

/* The state of a test of config_load: its folder, the errors and the
 * config (heap: struct config is large), and a buffer for config text
 * built at run time (NULL when textlen was 0). */
struct config_fixture {
	char dir[PATH_MAX]; /* realpath of the test's folder */
	struct buf errs;
	struct config *cfg;
	char *text;
	size_t textlen;
};

/* cmocka setup and teardown for a struct config_fixture in *state. */
int config_fixture_setup(void **state, const char *name, size_t textlen);
int config_fixture_teardown(void **state);
/* Writes text to DIR/relayftpd.ini (full path into path) and loads it
 * into f->cfg, errors into f->errs (emptied first); config_load's result. */
int config_fixture_load(
    struct config_fixture *f, const char *text, char *path, size_t pathlen);

#endif
