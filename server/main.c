/* main.c - rail-server: flags, then the server until it is told to stop. */
#include "options.h"
#include "server.h"

int main(int argc, char **argv)
{
    struct server_config cfg;
    switch (options_parse(argc, argv, &cfg)) {
    case OPTIONS_EXIT_OK:
        return 0;
    case OPTIONS_EXIT_USAGE:
        return 2;
    case OPTIONS_RUN:
        break;
    }
    return server_run(&cfg);
}
