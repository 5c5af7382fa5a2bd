// Enter a network namespace on the calling thread for one operation and
// always come back. If coming back fails the process would keep running in
// the container's namespace, so it aborts instead.
#pragma once
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace nkit {

class NetnsScope {
 public:
  // nsFd < 0 means "stay where we are".
  explicit NetnsScope(int nsFd) {
    if (nsFd < 0) return;
    orig_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (orig_ < 0) { err_ = errno; return; }
    if (setns(nsFd, CLONE_NEWNET) != 0) {
      err_ = errno;
      close(orig_);
      orig_ = -1;
    }
  }
  ~NetnsScope() {
    if (orig_ < 0) return;
    if (setns(orig_, CLONE_NEWNET) != 0) {
      perror("nkit: cannot return to the original network namespace");
      abort();
    }
    close(orig_);
  }
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;
  // errno of the failed open/setns, 0 when the scope is active.
  int error() const { return err_; }

 private:
  int orig_ = -1;
  int err_ = 0;
};

}  // namespace nkit
