#include "stream/nats_session.h"

#include <fmt/format.h>

#include <chrono>

namespace edict::stream {

std::string nats_error(const std::string& what, natsStatus status, jsErrCode code) {
  std::string text = fmt::format("{}: {}", what, natsStatus_GetText(status));
  const char* detail = nats_GetLastError(nullptr);
  if (detail && *detail && text.find(detail) == std::string::npos) text += fmt::format(" ({})", detail);
  if (code != 0) text += fmt::format(" (JetStream error {})", static_cast<int>(code));
  return text;
}

void Session::close() {
  if (js_) jsCtx_Destroy(js_);
  if (nc_) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
  js_ = nullptr;
  nc_ = nullptr;
}

bool Session::open(const Target& target, const std::string& name, int max_in_flight,
                   jsPubAckHandler ack_handler, void* closure, std::string* error) {
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts, target.url.c_str());
  if (s == NATS_OK) s = natsOptions_SetName(opts, name.c_str());
  // A restarted server is waited for: reconnect forever, every 100 ms, and
  // keep up to 32 MiB of publishes meanwhile.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 100);
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts, 32 << 20);
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 5000);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, &Session::on_reconnected, this);
  if (s == NATS_OK && !target.creds_file.empty())
    s = natsOptions_SetUserCredentialsFromFiles(opts, target.creds_file.c_str(), nullptr);
  if (s != NATS_OK) {
    *error = nats_error("cannot set the NATS connection's options", s);
    natsOptions_Destroy(opts);
    return false;
  }
  s = natsConnection_Connect(&nc_, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    *error = nats_error(fmt::format("cannot connect to NATS at `{}`", target.url), s);
    return false;
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 10'000;
  jo.PublishAsync.MaxPending = max_in_flight;
  jo.PublishAsync.AckHandler = ack_handler;
  jo.PublishAsync.AckHandlerClosure = closure;
  // A full window of publishes waits for acknowledgements (back-pressure)
  // rather than failing.
  jo.PublishAsync.StallWait = 60'000;
  s = natsConnection_JetStream(&js_, nc_, &jo);
  if (s != NATS_OK) {
    *error = nats_error("cannot open JetStream", s);
    return false;
  }
  return true;
}

void Session::on_reconnected(natsConnection*, void* closure) {
  ++static_cast<Session*>(closure)->reconnects_;
}

int64_t Session::max_payload() const {
  return natsConnection_GetMaxPayload(nc_);
}

bool Session::ensure_stream(const std::string& name, const std::string& subjects, const Target& target,
                            std::string* error) {
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info, js_, name.c_str(), nullptr, &code);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(info);
    return true;
  }
  if (s != NATS_NOT_FOUND && code != JSStreamNotFoundErr) {
    *error = nats_error(fmt::format("cannot look up the stream `{}`", name), s, code);
    return false;
  }
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = name.c_str();
  const char* subject_list[] = {subjects.c_str()};
  cfg.Subjects = subject_list;
  cfg.SubjectsLen = 1;
  cfg.Storage = target.storage == "memory" ? js_MemoryStorage : js_FileStorage;
  cfg.Duplicates = target.duplicate_window_s * 1'000'000'000LL;
  code = static_cast<jsErrCode>(0);
  s = js_AddStream(&info, js_, &cfg, nullptr, &code);
  if (s != NATS_OK && code != JSStreamNameExistErr) {  // another process created it meanwhile
    *error = nats_error(fmt::format("cannot create the stream `{}`", name), s, code);
    return false;
  }
  if (info) jsStreamInfo_Destroy(info);
  return true;
}

bool Session::ensure_streams(const Target& target, std::string* error) {
  return ensure_stream(target.events_stream, target.events_subject + ".*", target, error) &&
         ensure_stream(target.decisions_stream, target.decisions_subject + ".*", target, error);
}

bool Session::complete_publishes(int64_t timeout_ms, std::string* error) {
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = timeout_ms;
  natsStatus s = js_PublishAsyncComplete(js_, &po);
  if (s == NATS_OK) return true;
  *error = nats_error("waiting for publish acknowledgements", s);
  return false;
}

int Session::abandon_publishes() {
  natsMsgList pending{};
  if (js_PublishAsyncGetPendingList(&pending, js_) != NATS_OK) return 0;
  const int count = pending.Count;
  natsMsgList_Destroy(&pending);
  return count;
}

natsStatus Session::publish_async(natsMsg** msg) {
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = kPublishWaitMs;
  return js_PublishMsgAsync(js_, msg, &po);
}

std::string header_of(natsMsg* msg, const char* key) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, key, &value) != NATS_OK || !value) return {};
  return value;
}

int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace edict::stream
