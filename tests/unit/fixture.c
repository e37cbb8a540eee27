/*
 * fixture.c - temporary folders and files for unit tests (fixture.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
fixture_tmpdir(const char *name, char *dir, size_t dirlen)
{
	char tmpl[PATH_MAX];
	char real[PATH_MAX];

	if (fmt_fixed(tmpl, sizeof(tmpl), "/tmp/rftp-unit-%s-XXXXXX", name) <
	        0 ||
	    mkdtemp(tmpl) == NULL)
		return -1;
	if (realpath(tmpl, real) == NULL ||
	    fmt_fixed(dir, dirlen, "%s", real) < 0) {
		rmdir(tmpl);
		return -1;
	}
	return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

int
fixture_rmtree(const char *path)
{
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int
fixture_drop(void *f, const char *dir)
{
	int rc = dir[0] != '\0' ? fixture_rmtree(dir) : 0;

	free(f);
	return rc;
}

void
fixture_join(char *out, size_t outlen, const char *dir, const char *name)
{
	if (fmt_fixed(out, outlen, "%s/%s", dir, name) < 0)
		fail_msg("path too long: %s/%s", dir, name);
}

int
fixture_write(const char *dir, const char *name, const void *data, size_t len,
    char *path, size_t pathlen)
{
	char full[PATH_MAX];
	int fd, rc = -1;

	if (fmt_fixed(full, sizeof(full), "%s/%s", dir, name) < 0)
		return -1;
	if (path != NULL && fmt_fixed(path, pathlen, "%s", full) < 0)
		return -1;
	fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, data, len) == (ssize_t)len)
		rc = 0;
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

void
fixture_write_file(const char *dir, const char *name, const char *text,
    char *path, size_t pathlen)
{
	if (fixture_write(dir, name, text, strlen(text), path, pathlen) < 0)
		fail_msg("cannot write %s/%s", dir, name);
}

void
fixture_expect_error_at(
    const struct buf *errs, const char *path, int line, const char *key)
{
	char want[PATH_MAX + 128];
	int rc = key != NULL ?
	    fmt_fixed(want, sizeof(want), "%s:%d: key '%s'", path, line, key) :
	    fmt_fixed(want, sizeof(want), "%s:%d: ", path, line);

	if (rc < 0)
		fail_msg("expected error too long for %s", path);
	fixture_expect_text(errs, want);
}

void
fixture_expect_text(const struct buf *errs, const char *text)
{
	if (strstr(buf_str(errs), text) == NULL)
		fail_msg(
		    "errors do not contain \"%s\":\n%s", text, buf_str(errs));
}

int
config_fixture_setup(void **state, const char *name, size_t textlen)
{
	struct config_fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	*state = f;
	buf_init(&f->errs, 64 * 1024);
	f->cfg = calloc(1, sizeof(*f->cfg));
	f->textlen = textlen;
	if (textlen > 0)
		f->text = calloc(1, textlen);
	if (f->cfg == NULL || (textlen > 0 && f->text == NULL))
		return -1;
	return fixture_tmpdir(name, f->dir, sizeof(f->dir));
}

int
config_fixture_teardown(void **state)
{
	struct config_fixture *f = *state;
	int rc = f->dir[0] != '\0' ? fixture_rmtree(f->dir) : 0;

	buf_free(&f->errs);
	free(f->text);
	free(f->cfg);
	free(f);
	return rc;
}

int
config_fixture_load(
    struct config_fixture *f, const char *text, char *path, size_t pathlen)
{
	fixture_write_file(f->dir, "relayftpd.ini", text, path, pathlen);
	buf_reset(&f->errs);
	return config_load(path, f->cfg, &f->errs);
}
