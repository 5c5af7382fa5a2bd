// Entry point of the nkit addon and its shared helpers.
#include "common.h"

namespace nkit {

static const char* ErrnoName(int err) {
  switch (err) {
#define N(e) case e: return #e;
    N(EPERM) N(ENOENT) N(ESRCH) N(EINTR) N(EIO) N(ENXIO) N(E2BIG) N(EBADF)
    N(EAGAIN) N(ENOMEM) N(EACCES) N(EFAULT) N(EBUSY) N(EEXIST) N(ENODEV)
    N(ENOTDIR) N(EISDIR) N(EINVAL) N(ENFILE) N(EMFILE) N(ENOSPC) N(ERANGE)
    N(ENOSYS) N(ENOTEMPTY) N(ELOOP) N(ENOTSUP) N(EADDRINUSE)
    N(EADDRNOTAVAIL) N(ENETUNREACH) N(ENOBUFS) N(ETIMEDOUT) N(ECONNREFUSED)
    N(EPROTONOSUPPORT) N(EAFNOSUPPORT) N(EMSGSIZE) N(ENOTCONN)
#undef N
    default: return "EUNKNOWN";
  }
}

Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& what) {
  std::string msg = std::string(syscall) + " " + what + ": " + strerror(err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool ArgInt(const Napi::CallbackInfo& info, size_t i, int64_t* out) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = info[i].As<Napi::Number>().Int64Value();
  return true;
}

bool ArgString(const Napi::CallbackInfo& info, size_t i, std::string* out) {
  if (info.Length() <= i || !info[i].IsString()) {
    Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a string")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos) {
    Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " contains a NUL byte")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

bool ArgBuffer(const Napi::CallbackInfo& info, size_t i, Napi::Buffer<uint8_t>* out) {
  if (info.Length() <= i || !info[i].IsBuffer()) {
    Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a Buffer")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = info[i].As<Napi::Buffer<uint8_t>>();
  return true;
}

}  // namespace nkit

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  nkit::InitNetlink(env, exports);
  nkit::InitBpf(env, exports);
  nkit::InitSys(env, exports);
  return exports;
}

NODE_API_MODULE(nkit, Init)
