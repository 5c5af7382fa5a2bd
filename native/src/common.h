// Shared helpers of the nkit addon: argument checks and errno-carrying errors.
// The addon is a syscall boundary only: no policy, no defaults, no decisions.
#pragma once
#include <napi.h>
#include <cerrno>
#include <cstring>
#include <string>

namespace nkit {

// Throws a JS Error whose message names the syscall and the object, with
// `errno` (positive), `code` (e.g. "EEXIST") and `syscall` properties.
Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& what);

// Argument accessors: they throw a TypeError and return false on a bad type.
bool ArgInt(const Napi::CallbackInfo& info, size_t i, int64_t* out);
bool ArgString(const Napi::CallbackInfo& info, size_t i, std::string* out);
bool ArgBuffer(const Napi::CallbackInfo& info, size_t i, Napi::Buffer<uint8_t>* out);

void InitNetlink(Napi::Env env, Napi::Object exports);
void InitBpf(Napi::Env env, Napi::Object exports);
void InitSys(Napi::Env env, Napi::Object exports);

}  // namespace nkit
