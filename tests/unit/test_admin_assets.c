/*
 * test_admin_assets.c - the status page's files compiled into the binary
 * (admin/assets.h, made by src/admin/embed_asset.cmake).
 *
 * Covers: every file in src/admin/assets/ is served at "/NAME", byte for
 * byte equal to the file (so a file added to the folder but not to the
 * build, or a generator that drops or mangles bytes, fails here), with the
 * Content-Type of its extension and the NUL after the bytes; "/" is the
 * page; paths that are not assets (queries, traversal, case, a missing
 * slash, NULL) find nothing. RFTP_ASSET_DIR is the source folder, set by
 * tests/CMakeLists.txt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin/assets.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RFTP_ASSET_DIR
#error "RFTP_ASSET_DIR (the source folder src/admin/assets) must be defined"
#endif

/* The whole file dir/name into a malloc'd buffer (*len bytes); fails the
 * test if it cannot be read. */
static unsigned char *
slurp(const char *dir, const char *name, size_t *len)
{
	char path[PATH_MAX];
	unsigned char *data = NULL;
	long size;
	FILE *f;
	int n;

	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size >= 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	data = malloc((size_t)size + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	*len = (size_t)size;
	return data;
}

static const char *
type_for(const char *name)
{
	const char *dot = strrchr(name, '.');

	assert_non_null(dot);
	if (strcmp(dot, ".html") == 0)
		return "text/html; charset=utf-8";
	if (strcmp(dot, ".js") == 0)
		return "text/javascript; charset=utf-8";
	if (strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	if (strcmp(dot, ".svg") == 0)
		return "image/svg+xml";
	fail_msg("no Content-Type known for %s", name);
	return NULL;
}

static void
test_every_file_is_embedded_byte_for_byte(void **state)
{
	DIR *d;
	struct dirent *e;
	size_t files = 0;

	(void)state;
	d = opendir(RFTP_ASSET_DIR);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char url[NAME_MAX + 2];
		const struct admin_asset *a;
		unsigned char *want;
		size_t len;
		int n;

		if (e->d_name[0] == '.')
			continue;
		files++;
		n = snprintf(url, sizeof(url), "/%s", e->d_name);
		assert_true(n > 0 && (size_t)n < sizeof(url));
		a = admin_asset_find(url);
		if (a == NULL)
			fail_msg("%s is in %s but not embedded", url,
			    RFTP_ASSET_DIR);
		assert_string_equal(a->path, url);
		assert_string_equal(a->content_type, type_for(e->d_name));
		want = slurp(RFTP_ASSET_DIR, e->d_name, &len);
		assert_true(len > 0);
		assert_int_equal(a->len, len);
		assert_memory_equal(a->data, want, len);
		assert_int_equal(a->data[a->len], 0);
		free(want);
	}
	closedir(d);
	/* index.html, app.js, style.css, favicon.svg at least. */
	assert_true(files >= 4);
	assert_int_equal(admin_asset_count(), files);
}

static void
test_root_is_the_page(void **state)
{
	const struct admin_asset *root, *index;

	(void)state;
	root = admin_asset_find("/");
	index = admin_asset_find("/index.html");
	assert_non_null(root);
	assert_ptr_equal(root, index);
	assert_string_equal(root->content_type, "text/html; charset=utf-8");
	/* The page's own references resolve to assets. */
	assert_non_null(strstr((const char *)root->data, "src=\"app.js\""));
	assert_non_null(strstr((const char *)root->data, "href=\"style.css\""));
	assert_non_null(
	    strstr((const char *)root->data, "href=\"favicon.svg\""));
}

static void
test_listing_names_each_once(void **state)
{
	size_t i, j, n = admin_asset_count();

	(void)state;
	for (i = 0; i < n; i++) {
		const struct admin_asset *a = admin_asset_at(i);

		assert_non_null(a);
		assert_ptr_equal(admin_asset_find(a->path), a);
		for (j = 0; j < i; j++)
			assert_string_not_equal(
			    admin_asset_at(j)->path, a->path);
	}
	assert_null(admin_asset_at(n));
}

static void
test_other_paths_find_nothing(void **state)
{
	static const char *const bad[] = { "", "app.js", "/app.js?x=1",
		"/APP.JS", "/app.js/", "//app.js", "/../app.js",
		"/assets/app.js", "/api/status", "/metrics", "/index.htm",
		"/favicon.ico", "/app.js\n" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (admin_asset_find(bad[i]) != NULL)
			fail_msg("\"%s\" found an asset", bad[i]);
	}
	assert_null(admin_asset_find(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_file_is_embedded_byte_for_byte),
		cmocka_unit_test(test_root_is_the_page),
		cmocka_unit_test(test_listing_names_each_once),
		cmocka_unit_test(test_other_paths_find_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
