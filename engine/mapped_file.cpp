#include "engine/mapped_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

mapped_file::mapped_file(const std::string& path_) : path(path_) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        throw std::runtime_error(path + ": cannot stat: " + std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw std::runtime_error(path + ": not a regular file");
    }
    if (st.st_size == 0) {
        ::close(fd);
        throw std::runtime_error(path + ": file is empty");
    }
    void* p = ::mmap(nullptr, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    ::close(fd); // the mapping keeps its own reference to the file
    if (p == MAP_FAILED) {
        throw std::runtime_error(path + ": cannot mmap: " + std::strerror(err));
    }
    data = static_cast<const uint8_t*>(p);
    size = (uint64_t)st.st_size;
}

mapped_file::~mapped_file() {
    if (data) ::munmap(const_cast<uint8_t*>(data), (size_t)size);
}
