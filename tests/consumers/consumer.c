/*
 * consumer.c - a program built against an installed (or embedded)
 * libcmap: every backend of the build stores and loads a key, and the
 * header matches the library linked.  Exits 0 and prints "ok" on success.
 */
#include <cmap.h>

#include <stdio.h>
#include <string.h>

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
		cmap_config_t cfg;
		cmap_t *map;
		uint64_t v = 0;

		cmap_config_init(&cfg);
		cfg.backend = name;
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
		n++;
	}
	printf("ok: libcmap %s, %zu backends\n", cmap_version_string(), n);
	return n >= 3 ? 0 : 1;
}
