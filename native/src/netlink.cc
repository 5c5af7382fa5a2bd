// Raw netlink socket I/O. Messages are built and parsed in TypeScript
// (src/netlink/); this file only opens, sends and receives bytes.
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <vector>
#include "common.h"
#include "netns.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

namespace nkit {

// netlinkOpen(nsFd, protocol) -> fd. The socket belongs to the namespace it
// was created in, so it is created inside nsFd (or here when nsFd < 0).
static Napi::Value NetlinkOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t nsFd, proto;
  if (!ArgInt(info, 0, &nsFd) || !ArgInt(info, 1, &proto)) return env.Undefined();
  int fd;
  {
    NetnsScope scope(static_cast<int>(nsFd));
    if (scope.error() != 0) return ThrowErrno(env, scope.error(), "setns", "network namespace fd " + std::to_string(nsFd));
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, static_cast<int>(proto));
    if (fd < 0) return ThrowErrno(env, errno, "socket", "netlink protocol " + std::to_string(proto));
  }
  int one = 1;
  // Extended acks carry the kernel's reason text for a rejected request.
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  struct sockaddr_nl sa = {};
  sa.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)) != 0) {
    int e = errno;
    close(fd);
    return ThrowErrno(env, e, "bind", "netlink socket");
  }
  int rcvbuf = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  return Napi::Number::New(env, fd);
}

// netlinkSend(fd, bytes): one datagram to the kernel.
static Napi::Value NetlinkSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd;
  Napi::Buffer<uint8_t> buf;
  if (!ArgInt(info, 0, &fd) || !ArgBuffer(info, 1, &buf)) return env.Undefined();
  struct sockaddr_nl sa = {};
  sa.nl_family = AF_NETLINK;
  ssize_t n;
  do {
    n = sendto(static_cast<int>(fd), buf.Data(), buf.Length(), 0, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(env, errno, "sendto", "netlink socket");
  return env.Undefined();
}

// netlinkRecv(fd, timeoutMs) -> Buffer (one datagram, may hold several
// messages). Throws ETIMEDOUT when nothing arrives in time.
static Napi::Value NetlinkRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, timeoutMs;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &timeoutMs)) return env.Undefined();
  struct pollfd pfd = {static_cast<int>(fd), POLLIN, 0};
  int r;
  do {
    r = poll(&pfd, 1, static_cast<int>(timeoutMs));
  } while (r < 0 && errno == EINTR);
  if (r < 0) return ThrowErrno(env, errno, "poll", "netlink socket");
  if (r == 0) return ThrowErrno(env, ETIMEDOUT, "recv", "netlink socket (no answer from the kernel)");
  // Peek the datagram's size first: dumps can exceed any fixed buffer.
  ssize_t n;
  do {
    n = recv(static_cast<int>(fd), nullptr, 0, MSG_PEEK | MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(env, errno, "recv", "netlink socket");
  std::vector<uint8_t> data(static_cast<size_t>(n) + 1);
  do {
    n = recv(static_cast<int>(fd), data.data(), data.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(env, errno, "recv", "netlink socket");
  return Napi::Buffer<uint8_t>::Copy(env, data.data(), static_cast<size_t>(n));
}

void InitNetlink(Napi::Env env, Napi::Object exports) {
  exports.Set("netlinkOpen", Napi::Function::New(env, NetlinkOpen));
  exports.Set("netlinkSend", Napi::Function::New(env, NetlinkSend));
  exports.Set("netlinkRecv", Napi::Function::New(env, NetlinkRecv));
}

}  // namespace nkit
