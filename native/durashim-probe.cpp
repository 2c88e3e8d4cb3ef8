// A tiny program for test/durability/shim.test.ts: it makes a file durable
// with the contents "old", then changes it to "new" in one of several ways,
// some of which make the change durable and some of which do not, prints
// "ready" and waits to be killed. After the kill and the shim's restore, the
// file must read "new" exactly when the way was a durable one.
//
//   durashim-probe <file> <how>
//
// how: nosync, fsync, fdatasync, odsync, msync, mmap-nosync, append-nosync,
//      append-fsync, create-nosync, create-fsync, truncate-nosync, truncate-fsync

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

static void check(bool ok, const char* what) {
  if (!ok) {
    perror(what);
    exit(2);
  }
}

static void writeAll(int fd, const char* s, off_t off) {
  check(pwrite(fd, s, strlen(s), off) == static_cast<ssize_t>(strlen(s)), "pwrite");
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: durashim-probe <file> <how>\n");
    return 2;
  }
  const char* file = argv[1];
  std::string how = argv[2];

  if (how.rfind("create-", 0) != 0) {
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    check(fd >= 0, "open");
    writeAll(fd, "old", 0);
    check(fsync(fd) == 0, "fsync");
    close(fd);
  }

  if (how == "nosync" || how == "fsync" || how == "fdatasync") {
    int fd = open(file, O_RDWR);
    check(fd >= 0, "open");
    writeAll(fd, "new", 0);
    if (how == "fsync") check(fsync(fd) == 0, "fsync");
    if (how == "fdatasync") check(fdatasync(fd) == 0, "fdatasync");
  } else if (how == "odsync") {
    int fd = open(file, O_WRONLY | O_DSYNC);
    check(fd >= 0, "open");
    writeAll(fd, "new", 0);
  } else if (how == "msync" || how == "mmap-nosync") {
    int fd = open(file, O_RDWR);
    check(fd >= 0, "open");
    void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check(p != MAP_FAILED, "mmap");
    memcpy(p, "new", 3);
    if (how == "msync") check(msync(p, 4096, MS_SYNC) == 0, "msync");
  } else if (how == "append-nosync" || how == "append-fsync") {
    // "old" + "new" appended: the expected durable result is "oldnew".
    int fd = open(file, O_WRONLY | O_APPEND);
    check(fd >= 0, "open");
    check(write(fd, "new", 3) == 3, "write");
    if (how == "append-fsync") check(fsync(fd) == 0, "fsync");
  } else if (how == "create-nosync" || how == "create-fsync") {
    unlink(file);
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0644);
    check(fd >= 0, "open");
    check(write(fd, "new", 3) == 3, "write");
    if (how == "create-fsync") check(fsync(fd) == 0, "fsync");
  } else if (how == "truncate-nosync" || how == "truncate-fsync") {
    // Shrinks the file to nothing: the durable result is "" only after the sync.
    int fd = open(file, O_RDWR);
    check(fd >= 0, "open");
    check(ftruncate(fd, 0) == 0, "ftruncate");
    if (how == "truncate-fsync") check(fsync(fd) == 0, "fsync");
  } else {
    fprintf(stderr, "unknown way %s\n", how.c_str());
    return 2;
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}
