// Binding an HTTP listener, shared by `edict serve` and `edict playground`.
#pragma once

#include <httplib.h>

#include <string>

namespace edict::server {

// Binds `http` to host:port (port 0: any free port). The bound port, or -1
// with *error set.
int bind_listener(httplib::Server& http, const std::string& host, int port, std::string* error);

}  // namespace edict::server
