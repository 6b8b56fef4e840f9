# Warning set of the pgbouncer family (STYLE 2.11); -Werror unless CB_WERROR is off.
set(CB_WARNINGS
    -Wall -Wextra -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes
    -Wold-style-definition -Wpointer-arith -Wundef -Wshadow -Wvla
    -Wno-unused-parameter -Wdeclaration-after-statement)
if(CB_WERROR)
    list(APPEND CB_WARNINGS -Werror)
endif()
add_compile_options(${CB_WARNINGS})
add_compile_definitions(_GNU_SOURCE)
if(CMAKE_BUILD_TYPE STREQUAL "Release" OR CMAKE_BUILD_TYPE STREQUAL "RelWithDebInfo")
    add_compile_definitions(_FORTIFY_SOURCE=2)
endif()
