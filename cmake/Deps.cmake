# Every dependency is a Debian package, imported through pkg-config (STYLE 2.0, 2.12).
find_package(PkgConfig REQUIRED)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(EVENT_CORE REQUIRED IMPORTED_TARGET libevent_core)
pkg_check_modules(EVENT_EXTRA REQUIRED IMPORTED_TARGET libevent_extra)
pkg_check_modules(EVENT_OPENSSL REQUIRED IMPORTED_TARGET libevent_openssl)
pkg_check_modules(MSGPACK REQUIRED IMPORTED_TARGET msgpack)
pkg_check_modules(PQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
find_package(OpenSSL 3.0 REQUIRED)
if(CB_BUILD_TESTS)
    pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
    pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
endif()
# http_parser 2.9 (Debian libhttp-parser-dev) ships no pkg-config file: find it by hand.
find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h REQUIRED)
find_library(HTTP_PARSER_LIBRARY http_parser REQUIRED)
add_library(HttpParser::HttpParser UNKNOWN IMPORTED)
set_target_properties(HttpParser::HttpParser PROPERTIES
    IMPORTED_LOCATION ${HTTP_PARSER_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${HTTP_PARSER_INCLUDE_DIR})
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
