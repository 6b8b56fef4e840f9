# CB_SANITIZE=address,undefined gives the asan preset of STYLE 2.11.
if(CB_SANITIZE)
    add_compile_options(-fsanitize=${CB_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
    add_link_options(-fsanitize=${CB_SANITIZE})
    add_compile_definitions(CB_DEBUG_ASSERTS=1)
endif()
