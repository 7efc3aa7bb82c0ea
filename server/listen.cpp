#include "server/listen.h"

#include <fmt/format.h>

namespace edict::server {

int bind_listener(httplib::Server& http, const std::string& host, int port, std::string* error) {
  const int bound = port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    *error = fmt::format("cannot listen on {}:{}", host, port);
    return -1;
  }
  return bound;
}

}  // namespace edict::server
