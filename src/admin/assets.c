/*
 * assets.c - PLACEHOLDER until branch ops-page's assets.c replaces it.
 *
 * Owns: nothing for long: the ops-page helper writes the real table of the
 * status page's files (embedded from src/admin/assets/ at build time). This
 * stand-in serves one minimal page so the listener links and GET / can be
 * tested before that merge; on a merge conflict take ops-page's file.
 */
#include "admin/assets.h"

#include <string.h>

static const unsigned char page[] =
    "<!doctype html><html><head><meta charset=\"utf-8\">"
    "<title>relayftpd</title></head><body><p>relayftpd status: see "
    "<a href=\"/api/status\">/api/status</a></p></body></html>\n";

static const struct admin_asset assets[] = {
	{ "/index.html", "text/html; charset=utf-8", page, sizeof(page) - 1 },
};

const struct admin_asset *
admin_asset_find(const char *path)
{
	if (path == NULL)
		return NULL;
	if (strcmp(path, "/") == 0 || strcmp(path, assets[0].path) == 0)
		return &assets[0];
	return NULL;
}

size_t
admin_asset_count(void)
{
	return 1;
}

const struct admin_asset *
admin_asset_at(size_t n)
{
	return n < 1 ? &assets[0] : NULL;
}
