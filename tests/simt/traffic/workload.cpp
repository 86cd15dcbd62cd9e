// workload.cpp: runs a launcher, takes the traffic of its launches and checks
// that the measurement is sound (the launches the workload expects, every
// needed input byte read, every output byte written, nothing else written).
#include "workload.h"

#include <set>

namespace traffic {

std::vector<void (*)()>& workloads() {
  static std::vector<void (*)()> all;
  return all;
}

void run_workloads() {
  for (void (*fn)() : workloads()) fn();
}

std::vector<Row>& rows() {
  static std::vector<Row> r;
  return r;
}

void Workload::run(const char* launcher, const std::function<int()>& call, const std::vector<Expect>& expect) {
  const int rc = call();
  std::vector<LaunchTraffic> launches = take();
  std::vector<std::string> general;
  if (rc != 0) general.push_back(std::string(launcher) + " returned " + std::to_string(rc));
  if (launches.size() != expect.size())
    general.push_back(std::string(launcher) + " made " + std::to_string(launches.size()) +
                      " launches, the workload expects " + std::to_string(expect.size()));
  if (launches.empty()) {
    Row row;
    row.launcher = launcher;
    row.workload = name_;
    row.problems = general;
    if (row.problems.empty()) row.problems.push_back("no launch");
    rows().push_back(row);
    return;
  }
  for (size_t i = 0; i < launches.size(); ++i) {
    Row row;
    row.launcher = launcher;
    row.workload = name_;
    row.traffic = std::move(launches[i]);
    row.problems = general;
    general.clear();
    if (i >= expect.size()) {
      rows().push_back(std::move(row));
      continue;
    }
    const Expect& e = expect[i];
    row.why = e.why;
    auto find = [&](const std::string& name) -> const BufferTraffic* {
      for (const BufferTraffic& b : row.traffic.buffers)
        if (b.name == name) return &b;
      row.problems.push_back("no buffer named " + name);
      return nullptr;
    };
    std::set<std::string> outputs;
    for (const Need& n : e.reads) {
      const BufferTraffic* b = find(n.buffer);
      if (!b) continue;
      const uint64_t need = n.bytes ? n.bytes : b->size;
      row.minimum += need;
      if (b->unique_read < need)
        row.problems.push_back(n.buffer + ": " + std::to_string(b->unique_read) + " distinct bytes read of the " +
                               std::to_string(need) + " needed");
    }
    for (const Need& n : e.writes) {
      const BufferTraffic* b = find(n.buffer);
      if (!b) continue;
      const uint64_t need = n.bytes ? n.bytes : b->size;
      row.minimum += need;
      outputs.insert(n.buffer);
      if (b->unique_written < need)
        row.problems.push_back(n.buffer + ": " + std::to_string(b->unique_written) + " distinct bytes written of the " +
                               std::to_string(need) + " expected");
    }
    for (const BufferTraffic& b : row.traffic.buffers)
      if (b.written && !outputs.count(b.name)) row.problems.push_back(b.name + " written, but it is not an output");
    rows().push_back(std::move(row));
  }
}

}  // namespace traffic
