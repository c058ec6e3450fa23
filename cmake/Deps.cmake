# Dependencies, all Debian packages (scripts/install-deps.sh installs them), found through
# pkg-config; http-parser ships no .pc file and is found by path.
find_package(PkgConfig REQUIRED)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(UV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(LMDB REQUIRED IMPORTED_TARGET lmdb)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(CRYPTO REQUIRED IMPORTED_TARGET libcrypto)
pkg_check_modules(PROTOBUFC REQUIRED IMPORTED_TARGET libprotobuf-c)
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(CHECK REQUIRED IMPORTED_TARGET check)

find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h REQUIRED)
find_library(HTTP_PARSER_LIBRARY http_parser REQUIRED)
add_library(treaty_dep_http_parser INTERFACE)
target_include_directories(treaty_dep_http_parser INTERFACE ${HTTP_PARSER_INCLUDE_DIR})
target_link_libraries(treaty_dep_http_parser INTERFACE ${HTTP_PARSER_LIBRARY})

find_program(PROTOC_C protoc-c REQUIRED)
