/*
 * consumer.c - a program built against an installed (or embedded)
 * libcmap: every backend of the build stores and loads a key (a remote
 * one is left out: no server here), and the
 * header matches the library linked.  Exits 0 and prints "ok" on success.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <cmap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A persistent backend's map goes to a fresh directory under $TMPDIR (or
 * /tmp): remove its files and the directory. */
static void
scratch_remove(const char *dir)
{
	char path[4200];

	snprintf(path, sizeof path, "%s/data.mdb", dir);
	(void)unlink(path);
	snprintf(path, sizeof path, "%s/lock.mdb", dir);
	(void)unlink(path);
	(void)rmdir(dir);
}

int
main(void)
{
	const char *name;
	size_t n = 0;

	if (cmap_version() != CMAP_VERSION ||
	    strcmp(cmap_version_string(), CMAP_VERSION_STRING) != 0) {
		fprintf(stderr, "header %s, library %s\n", CMAP_VERSION_STRING,
		    cmap_version_string());
		return 1;
	}
	for (size_t i = 0; (name = cmap_backend_at(i)) != NULL; i++) {
		cmap_backend_info_t info;
		cmap_config_t cfg;
		cmap_t *map;
		uint64_t v = 0;
		char dir[4096] = "";

		cmap_config_init(&cfg);
		cfg.backend = name;
		if (cmap_backend_info(name, &info) != CMAP_OK)
			return 1;
		if (info.caps & CMAP_CAP_REMOTE)
			continue; /* needs a server */
		if (info.caps & CMAP_CAP_PERSISTENT) {
			const char *tmp = getenv("TMPDIR");

			snprintf(dir, sizeof dir, "%s/cmap-consumer.XXXXXX",
			    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
			if (mkdtemp(dir) == NULL ||
			    cmap_config_set(&cfg, "path", dir) != CMAP_OK)
				return 1;
		}
		if (cmap_create(&cfg, &map) != CMAP_OK) {
			fprintf(stderr, "%s: %s\n", name, cmap_last_error());
			return 1;
		}
		if (cmap_store(map, 42, 7) != CMAP_INSERTED ||
		    cmap_load(map, 42, &v) != CMAP_OK || v != 7) {
			fprintf(stderr, "%s: store/load failed\n", name);
			return 1;
		}
		cmap_destroy(map);
		if (dir[0] != '\0')
			scratch_remove(dir);
		n++;
	}
	printf("ok: libcmap %s, %zu backends\n", cmap_version_string(), n);
	return n >= 3 ? 0 : 1;
}
