# Embeds the text file IN as the C string hk_quickstart_yaml in OUT.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "const char hk_quickstart_yaml[] = {${bytes} 0x00};\n")
