/*
 * config.h - between the two files of the front end (cmap.c, config.c).
 */
#ifndef CMAP_CONFIG_H
#define CMAP_CONFIG_H

#include "internal.h"

/*
 * cmap__resolve - check config c and resolve it: the backend it names
 * into *be, what its create() gets into *args, with args->opt pointing at
 * vals[] (one value per option of the backend).  Returns CMAP_OK, or the
 * status cmap_create returns, with cmap_last_error() set.
 */
CMAP_HIDDEN cmap_status_t cmap__resolve(const cmap_config_t *c,
    const struct cmap__backend **be, struct cmap__create_args *args,
    union cmap__optval vals[CMAP__MAX_OPTIONS]);

#endif /* CMAP_CONFIG_H */
