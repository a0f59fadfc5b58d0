// Provides std::ios_base_library_init(), the one GLIBCXX_3.4.32 (GCC 13) symbol that
// libLibTorchSharp.so needs, for systems whose libstdc++ is older (Debian 12: GCC 12).
// GCC 13 calls it from every translation unit that includes <iostream> to make sure the
// standard streams are constructed; constructing a static ios_base::Init does the same.
#include <ios>

namespace std {
void ios_base_library_init();
}

void std::ios_base_library_init()
{
    static std::ios_base::Init init;
}
