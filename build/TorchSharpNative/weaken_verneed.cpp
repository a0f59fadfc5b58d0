// Marks named symbol-version requirements (e.g. GLIBCXX_3.4.32) of an ELF64 shared object
// as weak (VER_FLG_WEAK), so the dynamic loader does not refuse to load it when the system
// library lacks that version. The symbols themselves must still be found somewhere (see
// glibcxx_shim.cpp). Usage: weaken_verneed <file.so> <version> [<version> ...]
#include <elf.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s <file.so> <version> [<version> ...]\n", argv[0]);
        return 2;
    }
    std::ifstream in(argv[1], std::ios::binary);
    std::vector<char> image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (image.size() < sizeof(Elf64_Ehdr) || std::memcmp(image.data(), ELFMAG, SELFMAG) != 0
        || image[EI_CLASS] != ELFCLASS64) {
        std::fprintf(stderr, "%s: not an ELF64 file\n", argv[1]);
        return 1;
    }
    std::set<std::string> wanted(argv + 2, argv + argc);
    auto* header = reinterpret_cast<Elf64_Ehdr*>(image.data());
    auto* sections = reinterpret_cast<Elf64_Shdr*>(image.data() + header->e_shoff);
    int patched = 0;
    for (int i = 0; i < header->e_shnum; ++i) {
        if (sections[i].sh_type != SHT_GNU_verneed) {
            continue;
        }
        const char* strings = image.data() + sections[sections[i].sh_link].sh_offset;
        size_t needOffset = sections[i].sh_offset;
        for (unsigned n = 0; n < sections[i].sh_info; ++n) {
            auto* need = reinterpret_cast<Elf64_Verneed*>(image.data() + needOffset);
            size_t auxOffset = needOffset + need->vn_aux;
            for (unsigned a = 0; a < need->vn_cnt; ++a) {
                auto* aux = reinterpret_cast<Elf64_Vernaux*>(image.data() + auxOffset);
                if (wanted.count(strings + aux->vna_name) != 0) {
                    aux->vna_flags |= VER_FLG_WEAK;
                    ++patched;
                }
                auxOffset += aux->vna_next;
            }
            needOffset += need->vn_next;
        }
    }
    if (patched == 0) {
        std::fprintf(stderr, "%s: none of the given versions is required\n", argv[1]);
        return 1;
    }
    std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
    out.write(image.data(), static_cast<std::streamsize>(image.size()));
    return out ? 0 : 1;
}
