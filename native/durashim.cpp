// durashim: an LD_PRELOAD library that lets a test tell a write that was
// made durable (fsync, fdatasync, msync, an O_SYNC/O_DSYNC descriptor) from
// one that only reached the page cache. A plain `kill -9` cannot: the kernel
// keeps the dead process's dirty pages and writes them out later, so an
// acknowledgement that skipped fsync still survives.
//
// Design: the real files see every write, unchanged (so reads, mmap readers
// and other processes behave exactly as without the shim). Beside them the
// shim keeps a *shadow* of each tracked file's synced contents, one file per
// inode in $DURASHIM_DIR named <dev>-<ino>. Writes record the byte ranges
// they dirtied; a sync copies those ranges from the real file into the
// shadow and sets the shadow's size to the file's. After the process is
// killed, the test copies every shadow back over its file (restore.ts):
// what is left is exactly what a power cut right after the kill could leave
// if the disk kept nothing it was not told to keep.
//
// Scope and what it models:
// - Tracked: regular files whose path starts with one of the colon-separated
//   prefixes in $DURASHIM_ROOT and does not end in ".log".
// - Data: write, pwrite, writev, pwritev(2), ftruncate/truncate, fallocate,
//   copy_file_range, sendfile, and shared writable mmap (a msync copies the
//   range; an fsync of a file that has such a mapping copies the whole file).
// - Durable at once: writes on a descriptor opened with O_SYNC or O_DSYNC
//   (LMDB writes its meta page that way), sync(), syncfs().
// - Not modelled: directory entries. Creating, renaming and unlinking are
//   taken as durable at once (a journaling file system usually keeps them;
//   the strict model would need the directory fsyncs too). A file the
//   process created starts with an empty shadow, so its contents are lost
//   unless it was synced.
// - Not seen: writes that bypass libc (raw syscall(), io_uring). Run Node
//   with UV_USE_IO_URING=0 so libuv uses the ordinary calls.
// The first time a process touches a file it already finds on disk, that
// file's current contents are taken as durable (it was restored, or a
// previous owner closed it cleanly). A sync copies the file as it is when
// the copy runs, so a write racing a sync from another thread may count as
// synced: the shim can under-report loss that way, never invent it.
//
// By hand (the tests do this through test/durability/shim.ts):
//   g++ -O2 -shared -fPIC -o durashim.so native/durashim.cpp -ldl
//   DURASHIM_DIR=/tmp/shadow DURASHIM_ROOT=/data UV_USE_IO_URING=0 LD_PRELOAD=$PWD/durashim.so <command>
//   kill -9 ...; then copy each /tmp/shadow/<dev>-<ino> over the file under /data with that inode.

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace {

// ---- the real functions ------------------------------------------------------

template <typename F>
F real(const char* name) {
  void* p = dlsym(RTLD_NEXT, name);
  if (p == nullptr) {
    fprintf(stderr, "durashim: no symbol %s\n", name);
    abort();
  }
  return reinterpret_cast<F>(p);
}

#define REAL(name, type)                        \
  static type real_##name = nullptr;            \
  if (real_##name == nullptr) real_##name = real<type>(#name)

using open_t = int (*)(const char*, int, ...);
using openat_t = int (*)(int, const char*, int, ...);
using pread_t = ssize_t (*)(int, void*, size_t, off_t);
using pwrite_t = ssize_t (*)(int, const void*, size_t, off_t);
using close_t = int (*)(int);

int raw_open(const char* path, int flags, mode_t mode = 0) {
  REAL(open, open_t);
  return real_open(path, flags, mode);
}
ssize_t raw_pread(int fd, void* buf, size_t n, off_t off) {
  REAL(pread, pread_t);
  return real_pread(fd, buf, n, off);
}
ssize_t raw_pwrite(int fd, const void* buf, size_t n, off_t off) {
  REAL(pwrite, pwrite_t);
  return real_pwrite(fd, buf, n, off);
}
int raw_close(int fd) {
  REAL(close, close_t);
  return real_close(fd);
}
int raw_unlink(const char* path) {
  using t = int (*)(const char*);
  REAL(unlink, t);
  return real_unlink(path);
}
int raw_ftruncate(int fd, off_t len) {
  using t = int (*)(int, off_t);
  REAL(ftruncate, t);
  return real_ftruncate(fd, len);
}

// ---- state -----------------------------------------------------------------

constexpr uint64_t kEnd = UINT64_MAX;

struct Entry {
  bool tracked = false;
  // Dirty byte ranges [start, end) not yet in the shadow; end may be kEnd.
  std::vector<std::pair<uint64_t, uint64_t>> dirty;
  bool sizeDirty = false;
  bool sharedMap = false;
};

struct Mapping {
  uintptr_t addr;
  size_t len;
  uint64_t off;
  dev_t dev;
  ino_t ino;
};

struct State {
  std::mutex mu;
  std::map<std::pair<dev_t, ino_t>, Entry> entries;
  std::vector<Mapping> maps;
  std::string dir;
  std::vector<std::string> roots;
  bool enabled = false;
  bool loaded = false;
};

State& st() {
  static State* s = new State();  // never destroyed: calls may come during exit
  return *s;
}

// Errors inside the shim must not pass silently: a shadow that missed a
// write would make the test pass or fail for the wrong reason.
[[noreturn]] void die(const char* what, const std::string& detail) {
  fprintf(stderr, "durashim: %s %s: %s\n", what, detail.c_str(), strerror(errno));
  abort();
}

void load(State& s) {
  if (s.loaded) return;
  s.loaded = true;
  const char* dir = getenv("DURASHIM_DIR");
  const char* roots = getenv("DURASHIM_ROOT");
  if (dir == nullptr || roots == nullptr || *dir == 0 || *roots == 0) return;
  s.dir = dir;
  std::string r = roots;
  size_t start = 0;
  while (start <= r.size()) {
    size_t colon = r.find(':', start);
    if (colon == std::string::npos) colon = r.size();
    if (colon > start) s.roots.push_back(r.substr(start, colon - start));
    start = colon + 1;
  }
  s.enabled = !s.roots.empty();
}

std::string shadowPath(const State& s, dev_t dev, ino_t ino) {
  return s.dir + "/" + std::to_string(static_cast<unsigned long long>(dev)) + "-" + std::to_string(static_cast<unsigned long long>(ino));
}

std::string fdPath(int fd) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char buf[4096];
  ssize_t n = readlink(link, buf, sizeof buf - 1);
  if (n < 0) return std::string();
  buf[n] = 0;
  return std::string(buf);
}

bool wanted(const State& s, const std::string& path) {
  if (path.empty() || path[0] != '/') return false;
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".log") == 0) return false;
  for (const auto& r : s.roots)
    if (path.compare(0, r.size(), r) == 0) return true;
  return false;
}

// Copies [from, to) of `src` (or up to its end) to the same offsets of `dst`.
void copyRange(int src, int dst, uint64_t from, uint64_t to, const std::string& what) {
  static thread_local std::vector<char> buf(1 << 20);
  uint64_t off = from;
  while (off < to) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), to - off));
    ssize_t n = raw_pread(src, buf.data(), want, static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR) continue;
      die("read", what);
    }
    if (n == 0) break;  // past the end of the file
    for (ssize_t done = 0; done < n;) {
      ssize_t w = raw_pwrite(dst, buf.data() + done, static_cast<size_t>(n - done), static_cast<off_t>(off + done));
      if (w < 0) {
        if (errno == EINTR) continue;
        die("write shadow", what);
      }
      done += w;
    }
    off += static_cast<uint64_t>(n);
  }
}

int openShadow(const State& s, dev_t dev, ino_t ino, bool truncate) {
  std::string p = shadowPath(s, dev, ino);
  int fd = raw_open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0600);
  if (fd < 0) die("open shadow", p);
  return fd;
}

// The entry for fd's inode, created (and its shadow initialised from the
// file's current contents) the first time this process sees the inode.
// `fresh`: the file was just created empty, its shadow starts empty.
Entry* entryFor(State& s, int fd, bool fresh, struct stat* out = nullptr) {
  load(s);
  if (!s.enabled) return nullptr;
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) return nullptr;
  if (out != nullptr) *out = sb;
  auto key = std::make_pair(sb.st_dev, sb.st_ino);
  auto it = s.entries.find(key);
  if (it != s.entries.end() && !fresh) return it->second.tracked ? &it->second : nullptr;
  Entry e;
  std::string path = fdPath(fd);
  e.tracked = wanted(s, path);
  if (e.tracked) {
    int sh = openShadow(s, sb.st_dev, sb.st_ino, true);
    if (!fresh && sb.st_size > 0) {
      int rd = raw_open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (rd < 0) die("open", path);
      copyRange(rd, sh, 0, static_cast<uint64_t>(sb.st_size), path);
      raw_close(rd);
    }
    raw_close(sh);
  }
  Entry& slot = s.entries[key];
  slot = std::move(e);
  return slot.tracked ? &slot : nullptr;
}

void addDirty(Entry& e, uint64_t from, uint64_t to) {
  if (to <= from) return;
  // Merge with the last range when they touch: appends and page runs are the common case.
  if (!e.dirty.empty() && e.dirty.back().second >= from && e.dirty.back().first <= to) {
    auto& b = e.dirty.back();
    b.first = std::min(b.first, from);
    b.second = std::max(b.second, to);
    return;
  }
  e.dirty.emplace_back(from, to);
  if (e.dirty.size() > 4096) {
    // Keep memory bounded: fall back to one range covering them all.
    uint64_t lo = kEnd, hi = 0;
    for (auto& r : e.dirty) lo = std::min(lo, r.first), hi = std::max(hi, r.second);
    e.dirty.assign(1, std::make_pair(lo, hi));
  }
}

// Brings the shadow of `e` (the inode `fd` refers to) up to the file's current contents.
void syncEntry(State& s, Entry& e, int fd, const struct stat& sb) {
  if (e.dirty.empty() && !e.sizeDirty && !e.sharedMap) return;
  std::string path = fdPath(fd);
  int rd = raw_open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (rd < 0) die("open", path);
  int sh = openShadow(s, sb.st_dev, sb.st_ino, false);
  uint64_t size = static_cast<uint64_t>(sb.st_size);
  if (e.sharedMap) {
    copyRange(rd, sh, 0, size, path);
  } else {
    for (auto& r : e.dirty) copyRange(rd, sh, r.first, std::min(r.second, size), path);
  }
  if (raw_ftruncate(sh, static_cast<off_t>(size)) != 0) die("truncate shadow", path);
  raw_close(sh);
  raw_close(rd);
  e.dirty.clear();
  e.sizeDirty = false;
}

void syncFd(int fd) {
  State& s = st();
  std::lock_guard<std::mutex> g(s.mu);
  struct stat sb;
  Entry* e = entryFor(s, fd, false, &sb);
  if (e != nullptr) syncEntry(s, *e, fd, sb);
}

// Records [off, off+n) of fd's file as written. On an O_SYNC/O_DSYNC
// descriptor the write is durable when it returns, so it goes straight to
// the shadow.
void wrote(int fd, uint64_t off, uint64_t n) {
  if (n == 0) return;
  State& s = st();
  std::lock_guard<std::mutex> g(s.mu);
  struct stat sb;
  Entry* e = entryFor(s, fd, false, &sb);
  if (e == nullptr) return;
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0 && (fl & (O_SYNC | O_DSYNC)) != 0) {
    std::string path = fdPath(fd);
    int rd = raw_open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (rd < 0) die("open", path);
    int sh = openShadow(s, sb.st_dev, sb.st_ino, false);
    copyRange(rd, sh, off, off + n, path);
    // The size a synchronous write gives the file is durable with it.
    struct stat shs;
    if (fstat(sh, &shs) == 0 && static_cast<uint64_t>(shs.st_size) < off + n) raw_ftruncate(sh, static_cast<off_t>(off + n));
    raw_close(sh);
    raw_close(rd);
    return;
  }
  addDirty(*e, off, off + n);
}

// A write at the descriptor's position: the range ends where the position is now.
void wroteAtPosition(int fd, ssize_t n) {
  if (n <= 0) return;
  off_t end = lseek(fd, 0, SEEK_CUR);
  if (end < 0) return;  // a pipe or socket
  wrote(fd, static_cast<uint64_t>(end) - static_cast<uint64_t>(n), static_cast<uint64_t>(n));
}

void sizeChanged(int fd, uint64_t from) {
  State& s = st();
  std::lock_guard<std::mutex> g(s.mu);
  Entry* e = entryFor(s, fd, false);
  if (e == nullptr) return;
  e->sizeDirty = true;
  addDirty(*e, from, kEnd);
}

void wholeFileDirty(int fd) { sizeChanged(fd, 0); }

// open(2) with O_CREAT may make a new, empty file: its shadow starts empty
// (its inode may be one a deleted file had, whose shadow must not be reused).
bool existsAt(int dirfd, const char* path) {
  struct stat sb;
  return fstatat(dirfd, path, &sb, 0) == 0;
}

void opened(int fd, bool created) {
  if (fd < 0 || !created) return;
  State& s = st();
  std::lock_guard<std::mutex> g(s.mu);
  entryFor(s, fd, true);
}

// A name about to disappear: forget its inode when this was its last link.
void forget(int dirfd, const char* path) {
  State& s = st();
  std::lock_guard<std::mutex> g(s.mu);
  load(s);
  if (!s.enabled) return;
  struct stat sb;
  if (fstatat(dirfd, path, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode) || sb.st_nlink > 1) return;
  auto it = s.entries.find(std::make_pair(sb.st_dev, sb.st_ino));
  if (it == s.entries.end()) return;
  if (it->second.tracked) raw_unlink(shadowPath(s, sb.st_dev, sb.st_ino).c_str());
  s.entries.erase(it);
}

void syncAll() {
  State& s = st();
  std::lock_guard<std::mutex> g(s.mu);
  load(s);
  if (!s.enabled) return;
  // Without a descriptor, find each dirty inode through /proc/self/fd.
  for (int fd = 0; fd < 65536; fd++) {
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
      if (errno == EBADF && fd > 4096) break;
      continue;
    }
    if (!S_ISREG(sb.st_mode)) continue;
    auto it = s.entries.find(std::make_pair(sb.st_dev, sb.st_ino));
    if (it != s.entries.end() && it->second.tracked) syncEntry(s, it->second, fd, sb);
  }
}

mode_t modeArg(int flags, va_list ap) {
  return (flags & (O_CREAT | O_TMPFILE)) != 0 ? static_cast<mode_t>(va_arg(ap, int)) : 0;
}

}  // namespace

// ---- interposed functions ------------------------------------------------------

extern "C" {

#define OPEN_IMPL(name)                                             \
  int name(const char* path, int flags, ...) {                     \
    va_list ap;                                                    \
    va_start(ap, flags);                                           \
    mode_t mode = modeArg(flags, ap);                              \
    va_end(ap);                                                    \
    REAL(name, open_t);                                            \
    bool created = (flags & O_CREAT) != 0 && !existsAt(AT_FDCWD, path); \
    int fd = real_##name(path, flags, mode);                       \
    opened(fd, created);                                           \
    return fd;                                                     \
  }
OPEN_IMPL(open)
OPEN_IMPL(open64)

#define OPENAT_IMPL(name)                                           \
  int name(int dirfd, const char* path, int flags, ...) {          \
    va_list ap;                                                    \
    va_start(ap, flags);                                           \
    mode_t mode = modeArg(flags, ap);                              \
    va_end(ap);                                                    \
    REAL(name, openat_t);                                          \
    bool created = (flags & O_CREAT) != 0 && !existsAt(dirfd, path); \
    int fd = real_##name(dirfd, path, flags, mode);                \
    opened(fd, created);                                           \
    return fd;                                                     \
  }
OPENAT_IMPL(openat)
OPENAT_IMPL(openat64)

int creat(const char* path, mode_t mode) { return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }
int creat64(const char* path, mode_t mode) { return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }
// The _FORTIFY_SOURCE entry points.
int __open_2(const char* path, int flags) { return open(path, flags, 0); }
int __open64_2(const char* path, int flags) { return open(path, flags, 0); }
int __openat_2(int dirfd, const char* path, int flags) { return openat(dirfd, path, flags, 0); }
int __openat64_2(int dirfd, const char* path, int flags) { return openat(dirfd, path, flags, 0); }

ssize_t write(int fd, const void* buf, size_t n) {
  using t = ssize_t (*)(int, const void*, size_t);
  REAL(write, t);
  ssize_t r = real_write(fd, buf, n);
  wroteAtPosition(fd, r);
  return r;
}

ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  using t = ssize_t (*)(int, const struct iovec*, int);
  REAL(writev, t);
  ssize_t r = real_writev(fd, iov, cnt);
  wroteAtPosition(fd, r);
  return r;
}

#define PWRITE_IMPL(name)                                      \
  ssize_t name(int fd, const void* buf, size_t n, off_t off) { \
    REAL(name, pwrite_t);                                      \
    ssize_t r = real_##name(fd, buf, n, off);                  \
    if (r > 0) wrote(fd, static_cast<uint64_t>(off), static_cast<uint64_t>(r)); \
    return r;                                                  \
  }
PWRITE_IMPL(pwrite)
PWRITE_IMPL(pwrite64)

#define PWRITEV_IMPL(name)                                                  \
  ssize_t name(int fd, const struct iovec* iov, int cnt, off_t off) {       \
    using t = ssize_t (*)(int, const struct iovec*, int, off_t);            \
    REAL(name, t);                                                          \
    ssize_t r = real_##name(fd, iov, cnt, off);                             \
    if (r > 0) wrote(fd, static_cast<uint64_t>(off), static_cast<uint64_t>(r)); \
    return r;                                                               \
  }
PWRITEV_IMPL(pwritev)
PWRITEV_IMPL(pwritev64)

#define PWRITEV2_IMPL(name)                                                          \
  ssize_t name(int fd, const struct iovec* iov, int cnt, off_t off, int flags) {     \
    using t = ssize_t (*)(int, const struct iovec*, int, off_t, int);                \
    REAL(name, t);                                                                   \
    ssize_t r = real_##name(fd, iov, cnt, off, flags);                               \
    if (r > 0) {                                                                     \
      if (off == -1) wroteAtPosition(fd, r);                                         \
      else wrote(fd, static_cast<uint64_t>(off), static_cast<uint64_t>(r));          \
      if ((flags & (RWF_DSYNC | RWF_SYNC)) != 0) syncFd(fd);                         \
    }                                                                                \
    return r;                                                                        \
  }
PWRITEV2_IMPL(pwritev2)
PWRITEV2_IMPL(pwritev64v2)

#define FTRUNCATE_IMPL(name)                     \
  int name(int fd, off_t len) {                  \
    using t = int (*)(int, off_t);               \
    REAL(name, t);                               \
    int r = real_##name(fd, len);                \
    if (r == 0) sizeChanged(fd, static_cast<uint64_t>(len)); \
    return r;                                    \
  }
FTRUNCATE_IMPL(ftruncate)
FTRUNCATE_IMPL(ftruncate64)

#define TRUNCATE_IMPL(name)                                 \
  int name(const char* path, off_t len) {                   \
    int fd = open(path, O_WRONLY | O_CLOEXEC);              \
    if (fd < 0) return -1;                                  \
    int r = ftruncate(fd, len);                             \
    int e = errno;                                          \
    raw_close(fd);                                          \
    errno = e;                                              \
    return r;                                               \
  }
TRUNCATE_IMPL(truncate)
TRUNCATE_IMPL(truncate64)

#define FALLOCATE_IMPL(name)                                  \
  int name(int fd, int mode, off_t off, off_t len) {          \
    using t = int (*)(int, int, off_t, off_t);                \
    REAL(name, t);                                            \
    int r = real_##name(fd, mode, off, len);                  \
    if (r == 0) sizeChanged(fd, static_cast<uint64_t>(off));  \
    return r;                                                 \
  }
FALLOCATE_IMPL(fallocate)
FALLOCATE_IMPL(fallocate64)

#define POSIX_FALLOCATE_IMPL(name)                            \
  int name(int fd, off_t off, off_t len) {                    \
    using t = int (*)(int, off_t, off_t);                     \
    REAL(name, t);                                            \
    int r = real_##name(fd, off, len);                        \
    if (r == 0) sizeChanged(fd, static_cast<uint64_t>(off));  \
    return r;                                                 \
  }
POSIX_FALLOCATE_IMPL(posix_fallocate)
POSIX_FALLOCATE_IMPL(posix_fallocate64)

ssize_t copy_file_range(int in, off64_t* inOff, int out, off64_t* outOff, size_t len, unsigned flags) {
  using t = ssize_t (*)(int, off64_t*, int, off64_t*, size_t, unsigned);
  REAL(copy_file_range, t);
  ssize_t r = real_copy_file_range(in, inOff, out, outOff, len, flags);
  if (r > 0) wholeFileDirty(out);
  return r;
}

#define SENDFILE_IMPL(name, offt)                                   \
  ssize_t name(int out, int in, offt* off, size_t n) {              \
    using t = ssize_t (*)(int, int, offt*, size_t);                 \
    REAL(name, t);                                                  \
    ssize_t r = real_##name(out, in, off, n);                       \
    if (r > 0) wholeFileDirty(out);                                 \
    return r;                                                       \
  }
SENDFILE_IMPL(sendfile, off_t)
SENDFILE_IMPL(sendfile64, off64_t)

int fsync(int fd) {
  using t = int (*)(int);
  REAL(fsync, t);
  int r = real_fsync(fd);
  if (r == 0) syncFd(fd);
  return r;
}

int fdatasync(int fd) {
  using t = int (*)(int);
  REAL(fdatasync, t);
  int r = real_fdatasync(fd);
  if (r == 0) syncFd(fd);
  return r;
}

void sync(void) {
  using t = void (*)(void);
  REAL(sync, t);
  real_sync();
  syncAll();
}

int syncfs(int fd) {
  using t = int (*)(int);
  REAL(syncfs, t);
  int r = real_syncfs(fd);
  if (r == 0) syncAll();
  return r;
}

#define MMAP_IMPL(name, offt)                                                        \
  void* name(void* addr, size_t len, int prot, int flags, int fd, offt off) {        \
    using t = void* (*)(void*, size_t, int, int, int, offt);                         \
    REAL(name, t);                                                                   \
    void* p = real_##name(addr, len, prot, flags, fd, off);                          \
    if (p != MAP_FAILED && fd >= 0 && (prot & PROT_WRITE) != 0 && (flags & MAP_SHARED) != 0) { \
      State& s = st();                                                               \
      std::lock_guard<std::mutex> g(s.mu);                                           \
      struct stat sb;                                                                \
      Entry* e = entryFor(s, fd, false, &sb);                                        \
      if (e != nullptr) {                                                            \
        e->sharedMap = true;                                                         \
        s.maps.push_back(Mapping{reinterpret_cast<uintptr_t>(p), len, static_cast<uint64_t>(off), sb.st_dev, sb.st_ino}); \
      }                                                                              \
    }                                                                                \
    return p;                                                                        \
  }
MMAP_IMPL(mmap, off_t)
MMAP_IMPL(mmap64, off64_t)

int munmap(void* addr, size_t len) {
  using t = int (*)(void*, size_t);
  REAL(munmap, t);
  {
    State& s = st();
    std::lock_guard<std::mutex> g(s.mu);
    uintptr_t a = reinterpret_cast<uintptr_t>(addr);
    for (size_t i = 0; i < s.maps.size();) {
      if (s.maps[i].addr == a) s.maps.erase(s.maps.begin() + static_cast<long>(i));
      else i++;
    }
  }
  return real_munmap(addr, len);
}

// A synchronous msync makes the range durable: copy it from memory.
int msync(void* addr, size_t len, int flags) {
  using t = int (*)(void*, size_t, int);
  REAL(msync, t);
  int r = real_msync(addr, len, flags);
  if (r != 0 || (flags & MS_SYNC) == 0) return r;
  State& s = st();
  std::lock_guard<std::mutex> g(s.mu);
  uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  for (const Mapping& m : s.maps) {
    uintptr_t lo = std::max(a, m.addr), hi = std::min(a + len, m.addr + m.len);
    if (lo >= hi) continue;
    auto it = s.entries.find(std::make_pair(m.dev, m.ino));
    if (it == s.entries.end() || !it->second.tracked) continue;
    int sh = openShadow(s, m.dev, m.ino, false);
    uint64_t fileOff = m.off + (lo - m.addr);
    for (uintptr_t p = lo; p < hi;) {
      ssize_t w = raw_pwrite(sh, reinterpret_cast<void*>(p), hi - p, static_cast<off_t>(fileOff + (p - lo)));
      if (w < 0) {
        if (errno == EINTR) continue;
        die("write shadow", "msync");
      }
      p += static_cast<uintptr_t>(w);
    }
    raw_close(sh);
  }
  return r;
}

int unlink(const char* path) {
  using t = int (*)(const char*);
  REAL(unlink, t);
  forget(AT_FDCWD, path);
  return real_unlink(path);
}

int unlinkat(int dirfd, const char* path, int flags) {
  using t = int (*)(int, const char*, int);
  REAL(unlinkat, t);
  if ((flags & AT_REMOVEDIR) == 0) forget(dirfd, path);
  return real_unlinkat(dirfd, path, flags);
}

int rename(const char* from, const char* to) {
  using t = int (*)(const char*, const char*);
  REAL(rename, t);
  struct stat a, b;
  if (stat(from, &a) == 0 && stat(to, &b) == 0 && (a.st_dev != b.st_dev || a.st_ino != b.st_ino)) forget(AT_FDCWD, to);
  return real_rename(from, to);
}

int renameat(int fromDir, const char* from, int toDir, const char* to) {
  using t = int (*)(int, const char*, int, const char*);
  REAL(renameat, t);
  struct stat a, b;
  if (fstatat(fromDir, from, &a, 0) == 0 && fstatat(toDir, to, &b, 0) == 0 && (a.st_dev != b.st_dev || a.st_ino != b.st_ino)) forget(toDir, to);
  return real_renameat(fromDir, from, toDir, to);
}

}  // extern "C"
