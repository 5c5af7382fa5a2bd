// bpf() and libbpf calls: load an object, map element I/O, links, pins,
// queries and test runs. Attach types newer than bookworm's headers are
// plain numbers passed from TypeScript (see bpf/nkit_abi.h, src/bpf/abi.ts).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cstdarg>
#include <atomic>
#include <thread>
#include <vector>
#include "common.h"
#include "netns.h"

namespace nkit {

// libbpf's messages for the current call; surfaced in the error on failure.
static std::string g_libbpf_log;

static int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  int n = vsnprintf(line, sizeof(line), fmt, args);
  if (g_libbpf_log.size() < 16384) g_libbpf_log.append(line);
  return n;
}

struct ObjectHandle {
  struct bpf_object* obj = nullptr;
};

static void FinalizeObject(Napi::Env, ObjectHandle* h) {
  if (h->obj) bpf_object__close(h->obj);
  delete h;
}

static Napi::Object OptObject(Napi::Env env, const Napi::CallbackInfo& info, size_t i, const char* key) {
  if (info.Length() > i && info[i].IsObject()) {
    Napi::Value v = info[i].As<Napi::Object>().Get(key);
    if (v.IsObject()) return v.As<Napi::Object>();
  }
  return Napi::Object::New(env);
}

// bpfObjectLoad(path, {reuseMaps: {name: fd}, maxEntries: {name: n}}) ->
// {handle, programs, maps}. Program and map fds stay owned by the object
// until bpfObjectClose.
static Napi::Value ObjectLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ArgString(info, 0, &path)) return env.Undefined();
  Napi::Object reuse = OptObject(env, info, 1, "reuseMaps");
  Napi::Object sizes = OptObject(env, info, 1, "maxEntries");
  g_libbpf_log.clear();
  libbpf_set_print(LibbpfPrint);
  struct bpf_object* obj = bpf_object__open_file(path.c_str(), nullptr);
  int err = libbpf_get_error(obj);
  if (err) return ThrowErrno(env, -err, "bpf_object__open_file", path + " " + g_libbpf_log);
  struct bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    Napi::Value n = sizes.Get(bpf_map__name(map));
    if (n.IsNumber()) {
      int r = bpf_map__set_max_entries(map, n.As<Napi::Number>().Uint32Value());
      if (r) {
        bpf_object__close(obj);
        return ThrowErrno(env, -r, "bpf_map__set_max_entries", std::string("map ") + bpf_map__name(map));
      }
    }
    Napi::Value fdv = reuse.Get(bpf_map__name(map));
    if (!fdv.IsNumber()) continue;
    int r = bpf_map__reuse_fd(map, fdv.As<Napi::Number>().Int32Value());
    if (r) {
      bpf_object__close(obj);
      return ThrowErrno(env, -r, "bpf_map__reuse_fd", std::string("map ") + bpf_map__name(map));
    }
  }
  err = bpf_object__load(obj);
  if (err) {
    std::string log = g_libbpf_log;
    bpf_object__close(obj);
    return ThrowErrno(env, -err, "bpf_object__load", path + "\n" + log);
  }
  Napi::Object out = Napi::Object::New(env);
  auto* h = new ObjectHandle{obj};
  out.Set("handle", Napi::External<ObjectHandle>::New(env, h, FinalizeObject));
  Napi::Array progs = Napi::Array::New(env);
  struct bpf_program* prog;
  uint32_t i = 0;
  bpf_object__for_each_program(prog, obj) {
    Napi::Object p = Napi::Object::New(env);
    p.Set("name", bpf_program__name(prog));
    p.Set("fd", bpf_program__fd(prog));
    p.Set("type", static_cast<double>(bpf_program__type(prog)));
    progs.Set(i++, p);
  }
  out.Set("programs", progs);
  Napi::Array maps = Napi::Array::New(env);
  i = 0;
  bpf_object__for_each_map(map, obj) {
    Napi::Object m = Napi::Object::New(env);
    m.Set("name", bpf_map__name(map));
    m.Set("fd", bpf_map__fd(map));
    m.Set("type", static_cast<double>(bpf_map__type(map)));
    m.Set("keySize", bpf_map__key_size(map));
    m.Set("valueSize", bpf_map__value_size(map));
    m.Set("maxEntries", bpf_map__max_entries(map));
    maps.Set(i++, m);
  }
  out.Set("maps", maps);
  return out;
}

// bpfObjectClose(handle): closes the object's program and map fds.
static Napi::Value ObjectClose(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) {
    Napi::TypeError::New(info.Env(), "argument 0 must be an object handle").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  ObjectHandle* h = info[0].As<Napi::External<ObjectHandle>>().Data();
  if (h->obj) bpf_object__close(h->obj);
  h->obj = nullptr;
  return info.Env().Undefined();
}

// The BPF_LINK_CREATE and BPF_PROG_QUERY layouts of linux 6.7+ (tcx and
// netkit fields), which bookworm's 6.1 headers lack.
struct LinkCreateAttr {
  uint32_t prog_fd;
  uint32_t target_ifindex;
  uint32_t attach_type;
  uint32_t flags;
  uint32_t relative_fd;
  uint32_t pad;
  uint64_t expected_revision;
};
struct ProgQueryAttr {
  uint32_t target_ifindex;
  uint32_t attach_type;
  uint32_t query_flags;
  uint32_t attach_flags;
  uint64_t prog_ids;
  uint32_t count;
  uint32_t pad;
  uint64_t prog_attach_flags;
  uint64_t link_ids;
  uint64_t link_attach_flags;
  uint64_t revision;
};

static long SysBpf(int cmd, const void* attr, size_t len) {
  union bpf_attr a;
  static_assert(sizeof(a) >= sizeof(ProgQueryAttr), "bpf_attr too small");
  memset(&a, 0, sizeof(a));
  memcpy(&a, attr, len);
  long r = syscall(__NR_bpf, cmd, &a, sizeof(a));
  if (r >= 0 && cmd == BPF_PROG_QUERY) memcpy(const_cast<void*>(attr), &a, len);
  return r;
}

// bpfLinkCreate(progFd, ifindex, attachType, flags, nsFd) -> link fd. The
// kernel resolves ifindex in the caller's network namespace, so the call is
// made inside nsFd (-1: where we are).
static Napi::Value LinkCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t prog, ifindex, type, flags, nsFd;
  if (!ArgInt(info, 0, &prog) || !ArgInt(info, 1, &ifindex) || !ArgInt(info, 2, &type) || !ArgInt(info, 3, &flags) ||
      !ArgInt(info, 4, &nsFd))
    return env.Undefined();
  LinkCreateAttr a = {};
  a.prog_fd = static_cast<uint32_t>(prog);
  a.target_ifindex = static_cast<uint32_t>(ifindex);
  a.attach_type = static_cast<uint32_t>(type);
  a.flags = static_cast<uint32_t>(flags);
  long fd;
  int err;
  {
    NetnsScope scope(static_cast<int>(nsFd));
    if (scope.error() != 0) return ThrowErrno(env, scope.error(), "setns", "network namespace fd " + std::to_string(nsFd));
    fd = SysBpf(BPF_LINK_CREATE, &a, sizeof(a));
    err = errno;
  }
  errno = err;
  if (fd < 0)
    return ThrowErrno(env, errno, "bpf(BPF_LINK_CREATE)",
                      "attach type " + std::to_string(type) + " on ifindex " + std::to_string(ifindex));
  return Napi::Number::New(env, static_cast<double>(fd));
}

// bpfProgQuery(ifindex, attachType, max, nsFd) -> {progIds, linkIds, revision}.
static Napi::Value ProgQuery(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t ifindex, type, max, nsFd;
  if (!ArgInt(info, 0, &ifindex) || !ArgInt(info, 1, &type) || !ArgInt(info, 2, &max) || !ArgInt(info, 3, &nsFd))
    return env.Undefined();
  std::vector<uint32_t> progs(static_cast<size_t>(max > 0 ? max : 1)), links(progs.size());
  ProgQueryAttr a = {};
  a.target_ifindex = static_cast<uint32_t>(ifindex);
  a.attach_type = static_cast<uint32_t>(type);
  a.prog_ids = reinterpret_cast<uintptr_t>(progs.data());
  a.link_ids = reinterpret_cast<uintptr_t>(links.data());
  a.count = static_cast<uint32_t>(progs.size());
  long r;
  int err;
  {
    NetnsScope scope(static_cast<int>(nsFd));
    if (scope.error() != 0) return ThrowErrno(env, scope.error(), "setns", "network namespace fd " + std::to_string(nsFd));
    r = SysBpf(BPF_PROG_QUERY, &a, sizeof(a));
    err = errno;
  }
  errno = err;
  if (r < 0)
    return ThrowErrno(env, errno, "bpf(BPF_PROG_QUERY)",
                      "attach type " + std::to_string(type) + " on ifindex " + std::to_string(ifindex));
  Napi::Object out = Napi::Object::New(env);
  Napi::Array p = Napi::Array::New(env), l = Napi::Array::New(env);
  for (uint32_t i = 0; i < a.count && i < progs.size(); i++) {
    p.Set(i, progs[i]);
    l.Set(i, links[i]);
  }
  out.Set("progIds", p);
  out.Set("linkIds", l);
  out.Set("revision", static_cast<double>(a.revision));
  return out;
}

static Napi::Value LinkDetach(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, &fd)) return info.Env().Undefined();
  if (bpf_link_detach(static_cast<int>(fd)) != 0) return ThrowErrno(info.Env(), errno, "bpf(BPF_LINK_DETACH)", "link fd");
  return info.Env().Undefined();
}

static Napi::Value ObjPin(const Napi::CallbackInfo& info) {
  int64_t fd;
  std::string path;
  if (!ArgInt(info, 0, &fd) || !ArgString(info, 1, &path)) return info.Env().Undefined();
  if (bpf_obj_pin(static_cast<int>(fd), path.c_str()) != 0) return ThrowErrno(info.Env(), errno, "bpf(BPF_OBJ_PIN)", path);
  return info.Env().Undefined();
}

static Napi::Value ObjGet(const Napi::CallbackInfo& info) {
  std::string path;
  if (!ArgString(info, 0, &path)) return info.Env().Undefined();
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return ThrowErrno(info.Env(), errno, "bpf(BPF_OBJ_GET)", path);
  return Napi::Number::New(info.Env(), fd);
}

// bpfGetFdById(kind, id) with kind "prog" | "map" | "link".
static Napi::Value GetFdById(const Napi::CallbackInfo& info) {
  std::string kind;
  int64_t id;
  if (!ArgString(info, 0, &kind) || !ArgInt(info, 1, &id)) return info.Env().Undefined();
  int fd;
  if (kind == "prog") fd = bpf_prog_get_fd_by_id(static_cast<uint32_t>(id));
  else if (kind == "map") fd = bpf_map_get_fd_by_id(static_cast<uint32_t>(id));
  else if (kind == "link") fd = bpf_link_get_fd_by_id(static_cast<uint32_t>(id));
  else {
    Napi::TypeError::New(info.Env(), "kind must be prog, map or link").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  if (fd < 0) return ThrowErrno(info.Env(), errno, "bpf(BPF_*_GET_FD_BY_ID)", kind + " id " + std::to_string(id));
  return Napi::Number::New(info.Env(), fd);
}

// bpfObjInfo(fd, size) -> Buffer: the raw bpf_{prog,map,link}_info, decoded in TS.
static Napi::Value ObjInfo(const Napi::CallbackInfo& info) {
  int64_t fd, size;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &size)) return info.Env().Undefined();
  std::vector<uint8_t> buf(static_cast<size_t>(size), 0);
  uint32_t len = static_cast<uint32_t>(size);
  if (bpf_obj_get_info_by_fd(static_cast<int>(fd), buf.data(), &len) != 0)
    return ThrowErrno(info.Env(), errno, "bpf(BPF_OBJ_GET_INFO_BY_FD)", "fd " + std::to_string(fd));
  return Napi::Buffer<uint8_t>::Copy(info.Env(), buf.data(), len);
}

// bpfMapCreate(type, name, keySize, valueSize, maxEntries, flags) -> map fd
// (a container's own maps, which the shared programs reach through arrays
// of maps).
static Napi::Value MapCreate(const Napi::CallbackInfo& info) {
  int64_t type, keySize, valueSize, maxEntries, flags;
  std::string name;
  if (!ArgInt(info, 0, &type) || !ArgString(info, 1, &name) || !ArgInt(info, 2, &keySize) || !ArgInt(info, 3, &valueSize) ||
      !ArgInt(info, 4, &maxEntries) || !ArgInt(info, 5, &flags))
    return info.Env().Undefined();
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = static_cast<uint32_t>(flags));
  int fd = bpf_map_create(static_cast<enum bpf_map_type>(type), name.c_str(), static_cast<uint32_t>(keySize),
                          static_cast<uint32_t>(valueSize), static_cast<uint32_t>(maxEntries), &opts);
  if (fd < 0)
    return ThrowErrno(info.Env(), errno, "bpf(BPF_MAP_CREATE)",
                      "map " + name + " (type " + std::to_string(type) + ", " + std::to_string(maxEntries) + " entries)");
  return Napi::Number::New(info.Env(), fd);
}

static Napi::Value MapUpdate(const Napi::CallbackInfo& info) {
  int64_t fd, flags;
  Napi::Buffer<uint8_t> key, value;
  if (!ArgInt(info, 0, &fd) || !ArgBuffer(info, 1, &key) || !ArgBuffer(info, 2, &value) || !ArgInt(info, 3, &flags))
    return info.Env().Undefined();
  if (bpf_map_update_elem(static_cast<int>(fd), key.Data(), value.Data(), static_cast<uint64_t>(flags)) != 0)
    return ThrowErrno(info.Env(), errno, "bpf(BPF_MAP_UPDATE_ELEM)", "map fd " + std::to_string(fd));
  return info.Env().Undefined();
}

// Writes (value) or deletes (null) of map elements, each on its own thread:
// the kernel waits for an RCU grace period after every write to an array
// of maps (maybe_wait_bpf_programs), and concurrent waits share grace
// periods instead of queueing. The element changes as soon as a thread's
// syscall starts; the thread then only waits.
struct WriteOp {
  int fd;
  std::vector<uint8_t> key, value;
  bool del;
  int err;
  std::atomic<bool> done{false};
  WriteOp() = default;
  WriteOp(WriteOp&& o) noexcept : fd(o.fd), key(std::move(o.key)), value(std::move(o.value)), del(o.del), err(o.err) {}
};
struct WriteJob {
  std::vector<WriteOp> ops;
  std::vector<std::thread> threads;
  bool joined = false;
};

static void JoinJob(WriteJob* j) {
  if (j->joined) return;
  for (auto& t : j->threads) t.join();
  j->joined = true;
}

static void FinalizeJob(Napi::Env, WriteJob* j) {
  JoinJob(j);
  delete j;
}

// bpfMapWriteStart([[fd, key, value | null], ...]) -> handle; the threads
// run while the caller goes on. bpfMapWriteWait(handle) -> errno per op.
static Napi::Value MapWriteStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto bad = [&]() {
    Napi::TypeError::New(env, "argument 0 must be an array of [fd, key, value|null]").ThrowAsJavaScriptException();
    return env.Undefined();
  };
  if (info.Length() < 1 || !info[0].IsArray()) return bad();
  Napi::Array ops = info[0].As<Napi::Array>();
  auto* job = new WriteJob();
  for (uint32_t i = 0; i < ops.Length(); i++) {
    Napi::Value v = ops.Get(i);
    if (!v.IsArray()) {
      delete job;
      return bad();
    }
    Napi::Array op = v.As<Napi::Array>();
    Napi::Value fd = op.Get(0u), key = op.Get(1u), value = op.Get(2u);
    if (!fd.IsNumber() || !key.IsBuffer() || !(value.IsBuffer() || value.IsNull())) {
      delete job;
      return bad();
    }
    WriteOp o;
    o.fd = fd.As<Napi::Number>().Int32Value();
    auto k = key.As<Napi::Buffer<uint8_t>>();
    o.key.assign(k.Data(), k.Data() + k.Length());
    o.del = value.IsNull();
    if (!o.del) {
      auto b = value.As<Napi::Buffer<uint8_t>>();
      o.value.assign(b.Data(), b.Data() + b.Length());
    }
    o.err = 0;
    job->ops.push_back(std::move(o));
  }
  // ops no longer grows: the threads may hold references into it.
  for (auto& o : job->ops) {
    job->threads.emplace_back([&o]() {
      int r = o.del ? bpf_map_delete_elem(o.fd, o.key.data()) : bpf_map_update_elem(o.fd, o.key.data(), o.value.data(), 0);
      o.err = r == 0 ? 0 : errno;
      o.done.store(true);
    });
  }
  return Napi::External<WriteJob>::New(env, job, FinalizeJob);
}

// The job behind argument 0, or nullptr after throwing.
static WriteJob* JobArg(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) {
    Napi::TypeError::New(info.Env(), "argument 0 must be a handle from bpfMapWriteStart").ThrowAsJavaScriptException();
    return nullptr;
  }
  return info[0].As<Napi::External<WriteJob>>().Data();
}

// bpfMapWritePoll(handle) -> per op: -1 while its syscall runs, else its errno.
static Napi::Value MapWritePoll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  WriteJob* j = JobArg(info);
  if (!j) return env.Undefined();
  Napi::Array out = Napi::Array::New(env, j->ops.size());
  for (uint32_t i = 0; i < j->ops.size(); i++) out.Set(i, Napi::Number::New(env, j->ops[i].done.load() ? j->ops[i].err : -1));
  return out;
}

static Napi::Value MapWriteWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  WriteJob* j = JobArg(info);
  if (!j) return env.Undefined();
  JoinJob(j);
  Napi::Array out = Napi::Array::New(env, j->ops.size());
  for (uint32_t i = 0; i < j->ops.size(); i++) out.Set(i, Napi::Number::New(env, j->ops[i].err));
  return out;
}

// bpfMapLookup(fd, key, valueSize) -> Buffer, or null when the key is absent.
static Napi::Value MapLookup(const Napi::CallbackInfo& info) {
  int64_t fd, size;
  Napi::Buffer<uint8_t> key;
  if (!ArgInt(info, 0, &fd) || !ArgBuffer(info, 1, &key) || !ArgInt(info, 2, &size)) return info.Env().Undefined();
  std::vector<uint8_t> value(static_cast<size_t>(size), 0);
  if (bpf_map_lookup_elem(static_cast<int>(fd), key.Data(), value.data()) != 0) {
    if (errno == ENOENT) return info.Env().Null();
    return ThrowErrno(info.Env(), errno, "bpf(BPF_MAP_LOOKUP_ELEM)", "map fd " + std::to_string(fd));
  }
  return Napi::Buffer<uint8_t>::Copy(info.Env(), value.data(), value.size());
}

// bpfMapDelete(fd, key) -> false when the key was absent.
static Napi::Value MapDelete(const Napi::CallbackInfo& info) {
  int64_t fd;
  Napi::Buffer<uint8_t> key;
  if (!ArgInt(info, 0, &fd) || !ArgBuffer(info, 1, &key)) return info.Env().Undefined();
  if (bpf_map_delete_elem(static_cast<int>(fd), key.Data()) != 0) {
    if (errno == ENOENT) return Napi::Boolean::New(info.Env(), false);
    return ThrowErrno(info.Env(), errno, "bpf(BPF_MAP_DELETE_ELEM)", "map fd " + std::to_string(fd));
  }
  return Napi::Boolean::New(info.Env(), true);
}

// bpfMapNextKey(fd, key|null, keySize) -> Buffer, or null after the last key.
static Napi::Value MapNextKey(const Napi::CallbackInfo& info) {
  int64_t fd, size;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 2, &size)) return info.Env().Undefined();
  const void* cur = nullptr;
  if (info.Length() > 1 && info[1].IsBuffer()) cur = info[1].As<Napi::Buffer<uint8_t>>().Data();
  std::vector<uint8_t> next(static_cast<size_t>(size), 0);
  if (bpf_map_get_next_key(static_cast<int>(fd), cur, next.data()) != 0) {
    if (errno == ENOENT) return info.Env().Null();
    return ThrowErrno(info.Env(), errno, "bpf(BPF_MAP_GET_NEXT_KEY)", "map fd " + std::to_string(fd));
  }
  return Napi::Buffer<uint8_t>::Copy(info.Env(), next.data(), next.size());
}

// bpfProgTestRun(progFd, data, repeat, ctxIn?) -> {retval, duration,
// dataOut, ctxOut?}. ctxIn is a struct __sk_buff for SCHED_CLS programs.
static Napi::Value ProgTestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, repeat;
  Napi::Buffer<uint8_t> data;
  if (!ArgInt(info, 0, &fd) || !ArgBuffer(info, 1, &data) || !ArgInt(info, 2, &repeat)) return env.Undefined();
  std::vector<uint8_t> ctxIn, ctxOut;
  if (info.Length() > 3 && info[3].IsBuffer()) {
    auto b = info[3].As<Napi::Buffer<uint8_t>>();
    ctxIn.assign(b.Data(), b.Data() + b.Length());
    ctxOut.resize(b.Length());
  }
  std::vector<uint8_t> out(data.Length() + 512, 0);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data.Data(), .data_out = out.data(),
              .data_size_in = static_cast<uint32_t>(data.Length()), .data_size_out = static_cast<uint32_t>(out.size()),
              .ctx_in = ctxIn.empty() ? nullptr : ctxIn.data(), .ctx_out = ctxOut.empty() ? nullptr : ctxOut.data(),
              .ctx_size_in = static_cast<uint32_t>(ctxIn.size()), .ctx_size_out = static_cast<uint32_t>(ctxOut.size()),
              .repeat = static_cast<int>(repeat));
  if (bpf_prog_test_run_opts(static_cast<int>(fd), &opts) != 0)
    return ThrowErrno(env, errno, "bpf(BPF_PROG_TEST_RUN)", "prog fd " + std::to_string(fd));
  Napi::Object r = Napi::Object::New(env);
  r.Set("retval", static_cast<double>(static_cast<int32_t>(opts.retval)));
  r.Set("duration", static_cast<double>(opts.duration));
  r.Set("dataOut", Napi::Buffer<uint8_t>::Copy(env, out.data(), std::min<size_t>(opts.data_size_out, out.size())));
  if (!ctxOut.empty())
    r.Set("ctxOut", Napi::Buffer<uint8_t>::Copy(env, ctxOut.data(), std::min<size_t>(opts.ctx_size_out, ctxOut.size())));
  return r;
}

// Ring buffer reading (`nkit capture`): samples are copied out during poll.
struct RingHandle {
  struct ring_buffer* rb = nullptr;
  std::vector<std::vector<uint8_t>> pending;
};

static int OnSample(void* ctx, void* data, size_t size) {
  auto* h = static_cast<RingHandle*>(ctx);
  const uint8_t* p = static_cast<const uint8_t*>(data);
  h->pending.emplace_back(p, p + size);
  return 0;
}

static void FinalizeRing(Napi::Env, RingHandle* h) {
  if (h->rb) ring_buffer__free(h->rb);
  delete h;
}

// ringbufOpen(mapFd) -> handle
static Napi::Value RingOpen(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, &fd)) return info.Env().Undefined();
  auto* h = new RingHandle();
  h->rb = ring_buffer__new(static_cast<int>(fd), OnSample, h, nullptr);
  if (!h->rb) {
    int e = errno;
    delete h;
    return ThrowErrno(info.Env(), e, "ring_buffer__new", "map fd " + std::to_string(fd));
  }
  return Napi::External<RingHandle>::New(info.Env(), h, FinalizeRing);
}

// ringbufPoll(handle, timeoutMs) -> Buffer[] (possibly empty after the timeout)
static Napi::Value RingPoll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t timeout;
  if (info.Length() < 1 || !info[0].IsExternal() || !ArgInt(info, 1, &timeout)) {
    if (!env.IsExceptionPending()) Napi::TypeError::New(env, "ringbufPoll(handle, timeoutMs)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  RingHandle* h = info[0].As<Napi::External<RingHandle>>().Data();
  if (!h->rb) return ThrowErrno(env, EBADF, "ring_buffer__poll", "closed ring");
  int r = ring_buffer__poll(h->rb, static_cast<int>(timeout));
  if (r < 0 && r != -EINTR) return ThrowErrno(env, -r, "ring_buffer__poll", "ring");
  Napi::Array out = Napi::Array::New(env, h->pending.size());
  for (size_t i = 0; i < h->pending.size(); i++)
    out.Set(static_cast<uint32_t>(i), Napi::Buffer<uint8_t>::Copy(env, h->pending[i].data(), h->pending[i].size()));
  h->pending.clear();
  return out;
}

static Napi::Value RingClose(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && info[0].IsExternal()) {
    RingHandle* h = info[0].As<Napi::External<RingHandle>>().Data();
    if (h->rb) ring_buffer__free(h->rb);
    h->rb = nullptr;
  }
  return info.Env().Undefined();
}

void InitBpf(Napi::Env env, Napi::Object exports) {
  exports.Set("ringbufOpen", Napi::Function::New(env, RingOpen));
  exports.Set("ringbufPoll", Napi::Function::New(env, RingPoll));
  exports.Set("ringbufClose", Napi::Function::New(env, RingClose));
  exports.Set("bpfObjectLoad", Napi::Function::New(env, ObjectLoad));
  exports.Set("bpfObjectClose", Napi::Function::New(env, ObjectClose));
  exports.Set("bpfLinkCreate", Napi::Function::New(env, LinkCreate));
  exports.Set("bpfLinkDetach", Napi::Function::New(env, LinkDetach));
  exports.Set("bpfProgQuery", Napi::Function::New(env, ProgQuery));
  exports.Set("bpfObjPin", Napi::Function::New(env, ObjPin));
  exports.Set("bpfObjGet", Napi::Function::New(env, ObjGet));
  exports.Set("bpfGetFdById", Napi::Function::New(env, GetFdById));
  exports.Set("bpfObjInfo", Napi::Function::New(env, ObjInfo));
  exports.Set("bpfMapCreate", Napi::Function::New(env, MapCreate));
  exports.Set("bpfMapWriteStart", Napi::Function::New(env, MapWriteStart));
  exports.Set("bpfMapWriteWait", Napi::Function::New(env, MapWriteWait));
  exports.Set("bpfMapWritePoll", Napi::Function::New(env, MapWritePoll));
  exports.Set("bpfMapUpdate", Napi::Function::New(env, MapUpdate));
  exports.Set("bpfMapLookup", Napi::Function::New(env, MapLookup));
  exports.Set("bpfMapDelete", Napi::Function::New(env, MapDelete));
  exports.Set("bpfMapNextKey", Napi::Function::New(env, MapNextKey));
  exports.Set("bpfProgTestRun", Napi::Function::New(env, ProgTestRun));
}

}  // namespace nkit
