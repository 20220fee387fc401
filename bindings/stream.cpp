// The asynchronous side of the addon: each env's per-device streams (csrc/stream.h), deferred
// frees, and the promise-returning reads downloadAsync and syncAsync.
#include <cstdlib>
#include <cstring>
#include <string>

#include "../csrc/device.h"
#include "common.h"

namespace etb {

namespace {
bool sync_mode() {
  const char* v = std::getenv("EDGETRAIN_SYNC");
  return v && std::strcmp(v, "1") == 0;
}
}  // namespace

const std::shared_ptr<et::Stream>& EnvState::stream(et::Backend* be) {
  for (const auto& s : streams)
    if (s->backend() == be) return s;
  streams.push_back(std::make_shared<et::Stream>(be, sync_mode()));
  return streams.back();
}

void EnvState::drain() {
  for (const auto& s : streams) s->wait_all();
}

EnvState::~EnvState() {
  // queued frees run before the handle table frees what JS still held
  drain();
}

std::shared_ptr<et::Stream> pending_on(const et::Buffer* b) {
  std::shared_ptr<et::Stream> s = b->stream.lock();
  return s && s->done() < b->last_use ? s : nullptr;
}

bool queued_on(const et::Buffer* b, const std::shared_ptr<et::Stream>& s) {
  std::shared_ptr<et::Stream> p = pending_on(b);
  if (p && p != s) p->wait(b->last_use);
  return p && p == s;
}

void free_buffer(napi_env, const BufferHandle& h) {
  et::Backend* be = h.backend;
  et::Buffer* buf = h.buf;
  std::shared_ptr<et::Stream> s = pending_on(buf);
  // CPU memory goes back to the cache at once and may be handed out again while queued work
  // still uses it: its next user's work is queued on the same stream, so runs after (stream-
  // ordered reuse, what keeps a queued step's peak memory that of a step run in place). Alloc
  // waits when the next user is another env; uploads and reads wait through last_use.
  if (!s || (std::strcmp(be->name(), "cpu") == 0 && !buf->release)) return be->free(buf);
  // elsewhere (a mapped file's pages, device memory) the free waits its turn on the stream
  s->run([be, buf]() -> std::string {
    be->free(buf);
    return "";
  });
}

bool no_stream_error(const Napi::Env& env, et::Stream& s) {
  std::string err = s.take_error();
  if (err.empty()) return true;
  Napi::Error::New(env, err).ThrowAsJavaScriptException();
  return false;
}

std::string in_context(const char* what, const std::string& err) {
  const size_t colon = err.find(": ");
  if (colon != std::string::npos && colon > 0) {
    const std::string cls = err.substr(0, colon);
    bool word = true;
    for (char ch : cls) word = word && ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z'));
    const bool typed = cls == "OutOfMemory" || (cls.size() > 5 && cls.compare(cls.size() - 5, 5, "Error") == 0);
    if (word && typed) return err;
  }
  return std::string(what) + ": " + err;
}

bool wait_for(const Napi::Env& env, const BufferHandle& h) {
  if (std::shared_ptr<et::Stream> p = pending_on(h.buf)) p->wait(h.buf->last_use);
  return no_stream_error(env, *env_state(env).stream(h.backend));
}

namespace {

// Waits on a libuv thread for a stream item, then settles a promise on the JS thread: with the
// bytes an item copied out of a buffer, or with the error the stream kept.
class StreamWait : public Napi::AsyncWorker {
 public:
  StreamWait(Napi::Env env, std::shared_ptr<et::Stream> s, uint64_t seq, std::shared_ptr<std::vector<char>> data)
      : Napi::AsyncWorker(env, "edgetrain:wait"), deferred_(Napi::Promise::Deferred::New(env)), stream_(std::move(s)),
        seq_(seq), data_(std::move(data)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    stream_->wait(seq_);
    error_ = stream_->take_error();
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!error_.empty()) return deferred_.Reject(Napi::Error::New(env, error_).Value());
    if (!data_) return deferred_.Resolve(env.Undefined());
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, data_->size());
    if (env.IsExceptionPending()) return deferred_.Reject(env.GetAndClearPendingException().Value());
    if (!data_->empty()) std::memcpy(ab.Data(), data_->data(), data_->size());
    deferred_.Resolve(ab);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<et::Stream> stream_;
  uint64_t seq_;
  std::shared_ptr<std::vector<char>> data_;
  std::string error_;
};

// downloadAsync(handle, byteOffset, bytes) -> Promise<ArrayBuffer>: the bytes once the work
// queued before it has run; the copy itself is queued, so a free queued later waits for it.
Napi::Value DownloadAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufferHandle* h = get_handle(env, info[0], "downloadAsync");
  double off, n;
  if (!h || !arg_index(info, 1, "downloadAsync", "byte offset", &off) ||
      !arg_index(info, 2, "downloadAsync", "byte count", &n))
    return env.Undefined();
  if (!check_range(env, h, off, n, "downloadAsync")) return env.Undefined();
  const std::shared_ptr<et::Stream>& s = env_state(env).stream(h->backend);
  auto data = std::make_shared<std::vector<char>>(size_t(n));
  et::Backend* be = h->backend;
  et::Buffer* buf = h->buf;
  size_t at = size_t(off);
  const uint64_t seq = s->run([be, buf, at, data]() -> std::string {
    if (data->empty()) return "";
    std::string err = be->download(buf, at, data->data(), data->size());
    return err.empty() ? "" : in_context("download", err);
  });
  mark_use(buf, s, seq);
  auto* w = new StreamWait(env, s, seq, data);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// syncAsync(device) -> Promise<void>: settles once the work queued so far on the device has run,
// rejecting with the error a kernel met, if any.
Napi::Value SyncAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  et::Backend* be = backend_arg(info, "syncAsync");
  if (!be) return env.Undefined();
  const std::shared_ptr<et::Stream>& s = env_state(env).stream(be);
  // the device's own wait (a GPU's queue) runs in stream order too, and hands its error over
  const uint64_t seq = s->run([be]() -> std::string {
    std::string err = be->sync();
    return err.empty() ? "" : in_context("sync", err);
  });
  auto* w = new StreamWait(env, s, seq, nullptr);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// copyBuffer(src, srcByteOffset, dst, dstByteOffset, bytes): dst's bytes = src's, queued after
// the work that writes src and before any later use of dst, with no round trip through a JS
// buffer. Across devices the copy waits (on dst's stream) for src's stream to reach it, and goes
// through host memory: straight into or out of a CPU buffer, else through a staging copy.
Napi::Value CopyBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufferHandle* src = get_handle(env, info[0], "copyBuffer");
  if (!src) return env.Undefined();
  BufferHandle* dst = get_handle(env, info[2], "copyBuffer");
  double so, dof, n;
  if (!dst || !arg_index(info, 1, "copyBuffer", "source byte offset", &so) ||
      !arg_index(info, 3, "copyBuffer", "destination byte offset", &dof) || !arg_index(info, 4, "copyBuffer", "byte count", &n))
    return env.Undefined();
  if (so + n > double(src->bytes) || dof + n > double(dst->bytes)) {
    Napi::RangeError::New(env, "copyBuffer: " + fmt_num(n) + " bytes from offset " + fmt_num(so) + " of " +
                                   std::to_string(src->bytes) + " to offset " + fmt_num(dof) + " of " +
                                   std::to_string(dst->bytes) + " run past a buffer")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (n == 0) return env.Undefined();
  EnvState& st = env_state(env);
  std::shared_ptr<et::Stream> ss = st.stream(src->backend);
  const std::shared_ptr<et::Stream>& ds = st.stream(dst->backend);
  et::Backend *sb = src->backend, *db = dst->backend;
  et::Buffer *sbuf = src->buf, *dbuf = dst->buf;
  const size_t s_at = size_t(so), d_at = size_t(dof), bytes = size_t(n);
  // on dst's stream the copy needs src's work up to now; on the same stream order gives that
  const uint64_t after = ss != ds && queued_on(src->buf, ss) ? src->buf->last_use : 0;
  auto copy = [=]() -> std::string {
    if (after) ss->wait(after);
    std::string err;
    if (std::strcmp(db->name(), "cpu") == 0) err = sb->download(sbuf, s_at, static_cast<char*>(dbuf->ptr) + d_at, bytes);
    else if (std::strcmp(sb->name(), "cpu") == 0) err = db->upload(dbuf, d_at, static_cast<const char*>(sbuf->ptr) + s_at, bytes);
    else {
      std::vector<char> stage(bytes);
      err = sb->download(sbuf, s_at, stage.data(), bytes);
      if (err.empty()) err = db->upload(dbuf, d_at, stage.data(), bytes);
    }
    return err.empty() ? "" : "to: " + err;
  };
  queued_on(dbuf, ds);  // dst's earlier work on ds needs no wait: the copy is queued after it
  uint64_t seq = ds->run(copy);
  mark_use(dbuf, ds, seq);
  // src may not be reused or rewritten on its own stream before dst's stream has read it
  if (ss != ds)
    mark_use(sbuf, ss, ss->run([ds, seq]() -> std::string {
      ds->wait(seq);
      return "";
    }));
  else mark_use(sbuf, ss, seq);
  if (ds->inline_exec()) no_stream_error(env, *ds);
  return env.Undefined();
}

// pending(device) -> number of queued items not yet run (for tests and the profiler).
Napi::Value Pending(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  et::Backend* be = backend_arg(info, "pending");
  if (!be) return env.Undefined();
  const std::shared_ptr<et::Stream>& s = env_state(env).stream(be);
  return Napi::Number::New(env, double(s->last() - s->done()));
}

}  // namespace

void init_stream(Napi::Env env, Napi::Object exports) {
  export_fn<DownloadAsync>(env, exports, "downloadAsync");
  export_fn<SyncAsync>(env, exports, "syncAsync");
  export_fn<Pending>(env, exports, "pending");
  export_fn<CopyBuffer>(env, exports, "copyBuffer");
  exports.Set("syncMode", Napi::Boolean::New(env, sync_mode()));
}

}  // namespace etb
