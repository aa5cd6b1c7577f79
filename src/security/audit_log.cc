#include "security/audit_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstring>

#include "base/log.h"

namespace moat::security {

std::string rfc3339(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  const auto day = floor<days>(sys_time<milliseconds>(milliseconds(ms)));
  const year_month_day ymd{day};
  const int64_t inDay = ms - duration_cast<milliseconds>(day.time_since_epoch()).count();
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     inDay / 3'600'000, inDay / 60'000 % 60, inDay / 1000 % 60, inDay % 1000);
}

boost::json::object ConnectionEvent::toJson() const {
  boost::json::object o;
  o["time"] = rfc3339(time);
  o["event"] = "connection";
  o["outcome"] = accepted ? "accepted" : "refused";
  o["listener"] = listener;
  o["transport"] = transport;
  o["remote_address"] = remoteAddress;
  if (remotePort) o["remote_port"] = remotePort;
  if (!proxy.empty()) o["proxy"] = proxy;
  if (!clientId.empty()) o["client_id"] = clientId;
  if (!username.empty()) o["username"] = username;
  if (!method.empty()) o["method"] = method;
  if (!stage.empty()) o["stage"] = stage;
  if (reasonCode) o["reason_code"] = *reasonCode;
  if (!reason.empty()) o["reason"] = reason;
  if (!detail.empty()) o["detail"] = detail;
  if (!protocol.empty()) o["protocol"] = protocol;
  if (!tlsVersion.empty()) {
    boost::json::object tls;
    tls["version"] = tlsVersion;
    tls["cipher"] = tlsCipher;
    if (!certSubject.empty()) tls["subject"] = certSubject;
    if (!certIssuer.empty()) tls["issuer"] = certIssuer;
    if (!certSerial.empty()) tls["serial"] = certSerial;
    if (!pskIdentity.empty()) tls["psk_identity"] = pskIdentity;
    o["tls"] = std::move(tls);
  }
  if (!tokenKid.empty() || !tokenSub.empty()) {
    boost::json::object token;
    if (!tokenKid.empty()) token["kid"] = tokenKid;
    if (!tokenSub.empty()) token["sub"] = tokenSub;
    o["token"] = std::move(token);
  }
  return o;
}

boost::json::object AuthorizationEvent::toJson() const {
  boost::json::object o;
  o["time"] = rfc3339(time);
  o["event"] = "authorization";
  o["outcome"] = "denied";
  o["listener"] = listener;
  o["client_id"] = clientId;
  if (!username.empty()) o["username"] = username;
  o["action"] = action;
  o["topic"] = topic;
  if (!rule.empty()) o["rule"] = rule;
  if (!where.empty()) o["where"] = where;
  o["detail"] = detail;
  if (suppressed) o["suppressed"] = suppressed;
  return o;
}

namespace {

Result<int> openTarget(const std::string& target) {
  if (target == "-") return ::dup(STDOUT_FILENO);
  int fd = ::open(target.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return fail(0x80, fmt::format("audit file {}: {}", target, std::strerror(errno)));
  return fd;
}

}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& target) {
  auto fd = openTarget(target);
  if (!fd) return tl::unexpected(fd.error());
  return std::unique_ptr<AuditLog>(new AuditLog(target, *fd));
}

AuditLog::~AuditLog() { ::close(fd_); }

void AuditLog::write(const boost::json::object& event) {
  std::string line = boost::json::serialize(event);
  line += '\n';
  std::lock_guard lock(mutex_);
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ++lost_;
      if (!lostWarned_) {
        lostWarned_ = true;
        log::error("audit file {}: cannot write ({}); events are being lost", target_,
                   std::strerror(errno));
      }
      return;
    }
    done += static_cast<size_t>(n);
  }
}

Result<void> AuditLog::reopen() {
  if (target_ == "-") return {};
  auto fd = openTarget(target_);
  if (!fd) return tl::unexpected(fd.error());
  std::lock_guard lock(mutex_);
  ::close(fd_);
  fd_ = *fd;
  lostWarned_ = false;
  return {};
}

uint64_t AuditLog::lost() const {
  std::lock_guard lock(mutex_);
  return lost_;
}

}  // namespace moat::security
