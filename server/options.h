/* options.h - rail-server's command line. */
#ifndef RAIL_SERVER_OPTIONS_H
#define RAIL_SERVER_OPTIONS_H

#include <stdio.h>

#include "server.h"

enum options_result { OPTIONS_RUN, OPTIONS_EXIT_OK, OPTIONS_EXIT_USAGE };

/* Fills cfg from argv (defaults first). On OPTIONS_EXIT_USAGE a one-line
 * error has been printed to stderr; on OPTIONS_EXIT_OK --help or
 * --version has been printed to stdout. */
enum options_result options_parse(int argc, char **argv, struct server_config *cfg);

#endif
