/*
 * web_int.h - private to tsa/web.c: the page's static files, compiled in.
 * The table is generated at build time from tsa/web/ by cmake/embed.cmake
 * (web_assets.c in the build tree; never in git).
 */
#ifndef TSA_WEB_INT_H
#define TSA_WEB_INT_H

#include <stddef.h>

typedef struct web_asset {
    const char *name; /* file name under tsa/web/, e.g. "verify.js" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
} web_asset;

extern const web_asset web_assets[];
extern const size_t web_asset_count;

#endif
