// Small syscalls Node does not expose: close of raw fds, flock, statfs,
// mount, and writing a file while inside another network namespace.
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <thread>
#include <utility>
#include <vector>
#include <unistd.h>
#include "common.h"
#include "netns.h"

namespace nkit {

// closeFd(fd): for fds the addon handed out (netlink sockets, BPF objects).
static Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, &fd)) return info.Env().Undefined();
  if (close(static_cast<int>(fd)) != 0 && errno != EINTR)
    return ThrowErrno(info.Env(), errno, "close", "fd " + std::to_string(fd));
  return info.Env().Undefined();
}

// flock(fd, op) -> true, or false when LOCK_NB was given and the lock is held.
static Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, op;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &op)) return env.Undefined();
  int r;
  do {
    r = flock(static_cast<int>(fd), static_cast<int>(op));
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
    return ThrowErrno(env, errno, "flock", "fd " + std::to_string(fd));
  }
  return Napi::Boolean::New(env, true);
}

// statfsType(path) -> f_type (the filesystem magic, e.g. BPF_FS_MAGIC).
static Napi::Value StatfsType(const Napi::CallbackInfo& info) {
  std::string path;
  if (!ArgString(info, 0, &path)) return info.Env().Undefined();
  struct statfs st;
  if (statfs(path.c_str(), &st) != 0) return ThrowErrno(info.Env(), errno, "statfs", path);
  return Napi::Number::New(info.Env(), static_cast<double>(static_cast<uint32_t>(st.f_type)));
}

// mount(source, target, fstype, flags, data)
static Napi::Value Mount(const Napi::CallbackInfo& info) {
  std::string source, target, fstype, data;
  int64_t flags;
  if (!ArgString(info, 0, &source) || !ArgString(info, 1, &target) || !ArgString(info, 2, &fstype) ||
      !ArgInt(info, 3, &flags) || !ArgString(info, 4, &data))
    return info.Env().Undefined();
  if (mount(source.c_str(), target.c_str(), fstype.c_str(), static_cast<unsigned long>(flags), data.c_str()) != 0)
    return ThrowErrno(info.Env(), errno, "mount", fstype + " on " + target);
  return info.Env().Undefined();
}

// umount(target, flags): flags as umount2(2) (MNT_DETACH = 2).
static Napi::Value Umount(const Napi::CallbackInfo& info) {
  std::string target;
  int64_t flags;
  if (!ArgString(info, 0, &target) || !ArgInt(info, 1, &flags)) return info.Env().Undefined();
  if (umount2(target.c_str(), static_cast<int>(flags)) != 0) return ThrowErrno(info.Env(), errno, "umount2", target);
  return info.Env().Undefined();
}

// writeFileInNetns(nsFd, path, data): open and write while the calling thread
// is in nsFd. /proc/sys/net/* resolves to the opener's network namespace.
static Napi::Value WriteFileInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t nsFd;
  std::string path, data;
  if (!ArgInt(info, 0, &nsFd) || !ArgString(info, 1, &path) || !ArgString(info, 2, &data)) return env.Undefined();
  int fd;
  {
    NetnsScope scope(static_cast<int>(nsFd));
    if (scope.error() != 0) return ThrowErrno(env, scope.error(), "setns", "network namespace fd " + std::to_string(nsFd));
    fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return ThrowErrno(env, errno, "open", path);
  }
  ssize_t n = write(fd, data.data(), data.size());
  int e = errno;
  close(fd);
  if (n < 0) return ThrowErrno(env, e, "write", path);
  if (static_cast<size_t>(n) != data.size()) return ThrowErrno(env, EIO, "write", path + " (short write)");
  return env.Undefined();
}

// writeSysfsInNetns(nsFd, [[relPath, value], ...]) -> [errno or 0, ...].
// sysfs shows the network namespace of whoever mounted it, so the writes
// happen on a short-lived thread that unshares its mount namespace, enters
// nsFd, mounts a fresh sysfs over /sys and writes under it; when the thread
// ends its mount namespace (and the mount) go with it. Nothing is left
// mounted and the calling thread never changes namespace.
static Napi::Value WriteSysfsInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t nsFd;
  if (!ArgInt(info, 0, &nsFd)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsArray()) {
    Napi::TypeError::New(env, "argument 1 must be an array of [path, value]").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<std::pair<std::string, std::string>> writes;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value e = arr.Get(i);
    if (!e.IsArray() || e.As<Napi::Array>().Length() != 2 || !e.As<Napi::Array>().Get(0u).IsString() ||
        !e.As<Napi::Array>().Get(1u).IsString()) {
      Napi::TypeError::New(env, "each write must be [path, value] strings").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string rel = e.As<Napi::Array>().Get(0u).As<Napi::String>().Utf8Value();
    if (rel.empty() || rel[0] == '/' || rel.find("..") != std::string::npos) {
      Napi::TypeError::New(env, "sysfs paths must be relative and stay under /sys: " + rel).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    writes.emplace_back(rel, e.As<Napi::Array>().Get(1u).As<Napi::String>().Utf8Value());
  }
  std::vector<int> errs(writes.size(), 0);
  int setupErr = 0;
  const char* setupWhat = "";
  std::thread th([&]() {
    if (unshare(CLONE_NEWNS) != 0) { setupErr = errno; setupWhat = "unshare(CLONE_NEWNS)"; return; }
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) { setupErr = errno; setupWhat = "mount --make-rprivate /"; return; }
    if (nsFd >= 0 && setns(static_cast<int>(nsFd), CLONE_NEWNET) != 0) { setupErr = errno; setupWhat = "setns"; return; }
    // EBUSY: /sys already is this namespace's sysfs (the kernel refuses to
    // stack a superblock on itself), so writing under it is right.
    if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0 && errno != EBUSY) {
      setupErr = errno;
      setupWhat = "mount sysfs";
      return;
    }
    for (size_t i = 0; i < writes.size(); i++) {
      std::string path = "/sys/" + writes[i].first;
      int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) { errs[i] = errno; continue; }
      ssize_t n = write(fd, writes[i].second.data(), writes[i].second.size());
      if (n < 0) errs[i] = errno;
      close(fd);
    }
  });
  th.join();
  if (setupErr) return ThrowErrno(env, setupErr, setupWhat, "while writing sysfs in network namespace fd " + std::to_string(nsFd));
  Napi::Array out = Napi::Array::New(env, errs.size());
  for (size_t i = 0; i < errs.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, errs[i]));
  return out;
}

// peerCred(fd) -> {pid, uid, gid} of a connected unix socket's peer.
static Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, &fd)) return info.Env().Undefined();
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return ThrowErrno(info.Env(), errno, "getsockopt(SO_PEERCRED)", "fd " + std::to_string(fd));
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("pid", static_cast<double>(cred.pid));
  o.Set("uid", static_cast<double>(cred.uid));
  o.Set("gid", static_cast<double>(cred.gid));
  return o;
}

// netnsNew() -> fd of a new, empty network namespace. The calling thread
// unshares into it and returns at once; the namespace lives while the fd
// (or anything inside it) does. Used for probes and scratch work.
static Napi::Value NetnsNew(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (orig < 0) return ThrowErrno(env, errno, "open", "/proc/thread-self/ns/net");
  if (unshare(CLONE_NEWNET) != 0) {
    int e = errno;
    close(orig);
    return ThrowErrno(env, e, "unshare", "CLONE_NEWNET");
  }
  int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int openErr = errno;
  if (setns(orig, CLONE_NEWNET) != 0) {
    perror("nkit: cannot return to the original network namespace");
    abort();
  }
  close(orig);
  if (fd < 0) return ThrowErrno(env, openErr, "open", "new network namespace");
  return Napi::Number::New(env, fd);
}

void InitSys(Napi::Env env, Napi::Object exports) {
  exports.Set("netnsNew", Napi::Function::New(env, NetnsNew));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred));
  exports.Set("writeSysfsInNetns", Napi::Function::New(env, WriteSysfsInNetns));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("flock", Napi::Function::New(env, Flock));
  exports.Set("statfsType", Napi::Function::New(env, StatfsType));
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("umount", Napi::Function::New(env, Umount));
  exports.Set("writeFileInNetns", Napi::Function::New(env, WriteFileInNetns));
}

}  // namespace nkit
