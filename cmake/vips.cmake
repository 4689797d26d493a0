# vips.cmake - the image engine for rail-server's /resize: the target rail::vips.
#
# RAIL_VIPS selects it:
#   auto    (default) a system libvips >= 8.15 found by pkg-config, else the
#           npm build of libvips 8.17.3 (what sharp ships), fetched once.
#   npm     the npm build, whatever the system has.
#   system  the system's libvips via pkg-config, any version (Debian 12: 8.14,
#           from libvips-dev; slower, kept building).
#
# The npm build is two packages fetched with `npm pack` at pinned versions
# and checked against pinned SHA-512 sums: the library (with its codecs and
# its own GLib linked in) and the headers. They are unpacked into one cache
# under the source tree's build/, shared by every build directory, so the
# test suites download them once. Programs link the library by its full path
# (an imported target), so in the build tree they find it in that cache by
# CMake's build rpath, and take GLib only from it: a second GLib in the
# process (Debian's) would break both. `make install` puts a copy in
# LIBDIR/rail, where the installed rail-server's rpath ($ORIGIN) finds it.
set(RAIL_VIPS auto CACHE STRING "libvips to build against: auto, npm or system")
set_property(CACHE RAIL_VIPS PROPERTY STRINGS auto npm system)

set(RAIL_SHARP_LIBVIPS_VERSION 1.2.4)
set(RAIL_VIPS_NPM_LIBRARY libvips-cpp.so.8.17.3)
# sha512 of each tarball: `npm view PKG@VER dist.integrity`, base64 -> hex.
set(RAIL_SHARP_LIBVIPS_SHA512_linux-x64
    b49c6288bb261dcf40c756f3de868e6015114d718844338306a86f7951e89eb1c9f7ffa4f3da9b2e5d1b7099ecf9ee2de2bbda341c5a119b05b527c076ab8faf)
set(RAIL_SHARP_LIBVIPS_SHA512_linux-arm64
    7b17235fc0dfb08709d74c752b3af845c59ed5e742f4faae0d144fc776150af42ff94e69ed88a7dacdf67edce2917a236f53c815cffd32ddbcff2fa2464964af)
set(RAIL_SHARP_LIBVIPS_SHA512_dev
    ef00ba2ffd70dbd0c2704ed975cd12cbf0caac4a8beeb8203e9f466ffe6f62ab9682d6fe432b87b0d6d36f7de654e09a163eadc6bc2def91940a44bfd7ee8238)

# Fetches @img/sharp-libvips-NAME into the cache unless it is there and
# verified; sets OUT to the unpacked package directory.
function(rail_sharp_libvips name out)
  set(cache ${PROJECT_SOURCE_DIR}/build/_deps/sharp-libvips-${RAIL_SHARP_LIBVIPS_VERSION})
  set(dir ${cache}/${name})
  set(expected ${RAIL_SHARP_LIBVIPS_SHA512_${name}})
  if(NOT expected)
    message(FATAL_ERROR "rail: no pinned checksum for @img/sharp-libvips-${name}")
  endif()
  set(${out} ${dir}/package PARENT_SCOPE)
  if(EXISTS ${dir}/.verified)
    file(READ ${dir}/.verified done)
    if(done STREQUAL expected)
      return()
    endif()
  endif()
  find_program(RAIL_NPM npm)
  if(NOT RAIL_NPM)
    message(FATAL_ERROR "rail: npm is needed to fetch libvips (make deps installs it), "
                        "or configure with -DRAIL_VIPS=system and libvips-dev")
  endif()
  # A directory per fetch, so two configures at once cannot mix their files.
  string(RANDOM LENGTH 8 tag)
  set(tmp ${cache}/.fetch-${name}-${tag})
  file(MAKE_DIRECTORY ${tmp})
  message(STATUS "rail: fetching @img/sharp-libvips-${name}@${RAIL_SHARP_LIBVIPS_VERSION} (npm pack)")
  execute_process(
    COMMAND ${RAIL_NPM} pack --silent @img/sharp-libvips-${name}@${RAIL_SHARP_LIBVIPS_VERSION}
    WORKING_DIRECTORY ${tmp} RESULT_VARIABLE rc OUTPUT_VARIABLE tgz ERROR_VARIABLE err
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    file(REMOVE_RECURSE ${tmp})
    message(FATAL_ERROR "rail: npm pack @img/sharp-libvips-${name} failed: ${err}")
  endif()
  string(REGEX REPLACE ".*\n" "" tgz "${tgz}") # the last line names the tarball
  file(SHA512 ${tmp}/${tgz} got)
  if(NOT got STREQUAL expected)
    file(REMOVE_RECURSE ${tmp})
    message(FATAL_ERROR "rail: @img/sharp-libvips-${name} checksum mismatch:\n  got ${got}\n  want ${expected}")
  endif()
  file(ARCHIVE_EXTRACT INPUT ${tmp}/${tgz} DESTINATION ${tmp})
  file(REMOVE ${tmp}/${tgz})
  if(EXISTS ${dir}/.verified) # another configure finished first: keep its copy
    file(READ ${dir}/.verified done)
    if(done STREQUAL expected)
      file(REMOVE_RECURSE ${tmp})
      return()
    endif()
  endif()
  # Verified before it takes its place: a directory there is always whole.
  file(WRITE ${tmp}/.verified ${expected})
  file(REMOVE_RECURSE ${dir})
  file(RENAME ${tmp} ${dir})
endfunction()

function(rail_vips_from_npm)
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
    set(arch linux-arm64)
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
    set(arch linux-x64)
  else()
    message(FATAL_ERROR "rail: no npm libvips for ${CMAKE_SYSTEM_PROCESSOR}; use -DRAIL_VIPS=system")
  endif()
  rail_sharp_libvips(${arch} lib)
  rail_sharp_libvips(dev dev)
  add_library(rail_vips SHARED IMPORTED GLOBAL)
  set_target_properties(rail_vips PROPERTIES
    IMPORTED_LOCATION ${lib}/lib/${RAIL_VIPS_NPM_LIBRARY}
    IMPORTED_SONAME ${RAIL_VIPS_NPM_LIBRARY})
  target_include_directories(rail_vips SYSTEM INTERFACE
    ${dev}/include ${dev}/include/glib-2.0 ${lib}/lib/glib-2.0/include)
  set(RAIL_VIPS_USED "npm @img/sharp-libvips ${RAIL_SHARP_LIBVIPS_VERSION} (${RAIL_VIPS_NPM_LIBRARY})"
      PARENT_SCOPE)
  set(RAIL_VIPS_LIBDIR ${lib}/lib PARENT_SCOPE)
endfunction()

find_package(PkgConfig REQUIRED)
if(RAIL_VIPS STREQUAL "system")
  pkg_check_modules(VIPS REQUIRED IMPORTED_TARGET vips)
elseif(RAIL_VIPS STREQUAL "auto")
  pkg_check_modules(VIPS IMPORTED_TARGET vips>=8.15)
elseif(NOT RAIL_VIPS STREQUAL "npm")
  message(FATAL_ERROR "rail: RAIL_VIPS must be auto, npm or system, not '${RAIL_VIPS}'")
endif()

if(TARGET PkgConfig::VIPS)
  add_library(rail_vips INTERFACE)
  target_link_libraries(rail_vips INTERFACE PkgConfig::VIPS)
  set(RAIL_VIPS_USED "system libvips ${VIPS_VERSION} (pkg-config)")
  set(RAIL_VIPS_LIBDIR "")
else()
  rail_vips_from_npm()
endif()
add_library(rail::vips ALIAS rail_vips)
message(STATUS "rail: /resize uses ${RAIL_VIPS_USED}")
