#include "pki/cert_index.h"

#include <ctime>
#include <filesystem>

#include <fmt/format.h>

namespace moat::pki {

namespace {

constexpr std::string_view kHeader =
    "# moat pki: certificates issued by this CA, one per line, tab-separated:\n"
    "# status(V/R) serial not-after revoked-at reason kind common-name cert-file key-file\n";
constexpr size_t kFields = 9;

std::vector<std::string_view> splitTabs(std::string_view line) {
  std::vector<std::string_view> out;
  for (;;) {
    size_t tab = line.find('\t');
    out.push_back(line.substr(0, tab));
    if (tab == std::string_view::npos) return out;
    line.remove_prefix(tab + 1);
  }
}

bool isUpperHex(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

Result<IndexEntry> parseLine(std::string_view line, std::string_view where) {
  auto bad = [&](std::string_view why) { return fail(0x80, fmt::format("{}: {}", where, why)); };
  auto f = splitTabs(line);
  if (f.size() != kFields) {
    return bad(fmt::format("expected {} tab-separated fields, found {}", kFields, f.size()));
  }
  IndexEntry e;
  if (f[0] != "V" && f[0] != "R") return bad("status must be V or R");
  if (!isUpperHex(f[1])) return bad("serial must be upper-case hexadecimal");
  e.serial = f[1];
  auto notAfter = parseUtc(f[2]);
  if (!notAfter) return bad("not-after must look like 2026-06-01T10:00:00Z");
  e.notAfter = *notAfter;
  if (f[0] == "R") {
    auto at = parseUtc(f[3]);
    auto reason = parseReason(f[4]);
    if (!at || !reason) return bad("a revoked entry needs its revocation time and reason");
    e.revokedAt = *at;
    e.reason = *reason;
  }
  if (f[5] == "server") {
    e.kind = CertKind::Server;
  } else if (f[5] == "client") {
    e.kind = CertKind::Client;
  } else {
    return bad("kind must be server or client");
  }
  e.commonName = f[6];
  e.certFile = f[7];
  e.keyFile = f[8];
  if (e.certFile.empty()) return bad("cert-file is empty");
  return e;
}

}  // namespace

std::string_view kindName(CertKind kind) { return kind == CertKind::Server ? "server" : "client"; }

std::string_view reasonName(RevocationReason reason) {
  switch (reason) {
    case RevocationReason::KeyCompromise:
      return "keyCompromise";
    case RevocationReason::Superseded:
      return "superseded";
    case RevocationReason::CessationOfOperation:
      return "cessationOfOperation";
    case RevocationReason::Unspecified:
      break;
  }
  return "unspecified";
}

std::optional<RevocationReason> parseReason(std::string_view name) {
  for (auto r : {RevocationReason::Unspecified, RevocationReason::KeyCompromise,
                 RevocationReason::Superseded, RevocationReason::CessationOfOperation}) {
    if (reasonName(r) == name) return r;
  }
  return std::nullopt;
}

std::string formatUtc(int64_t epochSeconds) {
  std::time_t t = static_cast<std::time_t>(epochSeconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::optional<int64_t> parseUtc(std::string_view text) {
  if (text.size() != 20) return std::nullopt;
  std::string s(text);
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (!end || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

std::string IndexEntry::name() const { return std::filesystem::path(certFile).stem().string(); }

Result<CertIndex> CertIndex::parse(std::string_view text, std::string_view fileName) {
  CertIndex index;
  size_t lineNo = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    auto entry = parseLine(line, fmt::format("{}:{}", fileName, lineNo));
    if (!entry) return tl::unexpected(entry.error());
    index.entries_.push_back(std::move(*entry));
  }
  return index;
}

std::string CertIndex::render() const {
  std::string out(kHeader);
  for (const auto& e : entries_) {
    out += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n", e.revoked() ? "R" : "V", e.serial,
                       formatUtc(e.notAfter), e.revoked() ? formatUtc(*e.revokedAt) : "-",
                       e.revoked() ? reasonName(e.reason) : "-", kindName(e.kind), e.commonName,
                       e.certFile, e.keyFile);
  }
  return out;
}

bool CertIndex::hasSerial(std::string_view serial) const {
  for (const auto& e : entries_) {
    if (e.serial == serial) return true;
  }
  return false;
}

bool CertIndex::revoke(std::string_view serial, int64_t when, RevocationReason reason) {
  for (auto& e : entries_) {
    if (e.serial == serial && !e.revoked()) {
      e.revokedAt = when;
      e.reason = reason;
      return true;
    }
  }
  return false;
}

}  // namespace moat::pki
