/*
 * assets.h - the status page's files, compiled into the binary.
 *
 * Owns: the table of static files the admin listener serves (GET /,
 * /app.js, /style.css, /favicon.svg) with their Content-Type. The bytes
 * come from src/admin/assets/ at build time (src/admin/embed_asset.cmake
 * turns each file into a C array), so the page needs no files at run time
 * and nothing from the internet at build time. Knows nothing of HTTP.
 */
#ifndef RFTP_ADMIN_ASSETS_H
#define RFTP_ADMIN_ASSETS_H

#include <stddef.h>

struct admin_asset {
	const char *path;         /* as requested: "/app.js" */
	const char *content_type; /* a full Content-Type value */
	const unsigned char *data;
	size_t len; /* data[len] is a NUL not counted in len */
};

/* The asset served at path (the URL's path, without query or fragment;
 * "/" is the page itself, also at "/index.html"), or NULL. The result is
 * static: never freed, safe to share between threads. */
const struct admin_asset *admin_asset_find(const char *path);

/* The n-th asset (n < admin_asset_count()), each once, for listing. */
size_t admin_asset_count(void);
const struct admin_asset *admin_asset_at(size_t n);

#endif
