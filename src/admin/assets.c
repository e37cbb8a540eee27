/*
 * assets.c - the table of the status page's files (assets.h).
 *
 * Owns: which URL path serves which embedded file, and its Content-Type.
 * The bytes are in the generated asset_*.inc files (one static array per
 * file of src/admin/assets/, made at build time by embed_asset.cmake and
 * included here only). Must not: know HTTP or touch the filesystem.
 */
#include "admin/assets.h"

#include <string.h>

#include "asset_index_html.inc"
#include "asset_app_js.inc"
#include "asset_style_css.inc"
#include "asset_favicon_svg.inc"

/* Each array ends with a NUL that the generator adds (and len leaves
 * out), so an empty file is still a valid array. */
#define ASSET(p, type, arr)                   \
	{                                     \
		p, type, arr, sizeof(arr) - 1 \
	}

static const struct admin_asset assets[] = {
	ASSET("/index.html", "text/html; charset=utf-8", asset_index_html),
	ASSET("/app.js", "text/javascript; charset=utf-8", asset_app_js),
	ASSET("/style.css", "text/css; charset=utf-8", asset_style_css),
	ASSET("/favicon.svg", "image/svg+xml", asset_favicon_svg),
};

#define ASSET_COUNT (sizeof(assets) / sizeof(assets[0]))

const struct admin_asset *
admin_asset_find(const char *path)
{
	size_t i;

	if (path == NULL)
		return NULL;
	if (strcmp(path, "/") == 0)
		return &assets[0];
	for (i = 0; i < ASSET_COUNT; i++) {
		if (strcmp(path, assets[i].path) == 0)
			return &assets[i];
	}
	return NULL;
}

size_t
admin_asset_count(void)
{
	return ASSET_COUNT;
}

const struct admin_asset *
admin_asset_at(size_t n)
{
	return n < ASSET_COUNT ? &assets[n] : NULL;
}
