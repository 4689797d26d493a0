/* version.h - rail-server's version, from the rail library it is built on. */
#ifndef RAIL_SERVER_VERSION_H
#define RAIL_SERVER_VERSION_H

#include <rail.h>

#define RAIL_SERVER_STR_(x) #x
#define RAIL_SERVER_STR(x)  RAIL_SERVER_STR_(x)
#define RAIL_SERVER_VERSION                                                                        \
    RAIL_SERVER_STR(RAIL_VERSION_MAJOR)                                                            \
    "." RAIL_SERVER_STR(RAIL_VERSION_MINOR) "." RAIL_SERVER_STR(RAIL_VERSION_PATCH)

#endif
