// hnswlib's own build and search, with its own L2 distance or with sagevec's
// resolved kernel (sagevec_space.h), on an ANN data set in .npy files
// (base.npy float32 n x d, queries.npy float32, gt_ids.npy int32/int64 with at
// least k columns). Prints one JSON object per line: the build, then one line per
// ef with recall@k and QPS (single-threaded search, median of --runs).
//
//   bench --data DIR --space hnswlib|sagevec [--m 16] [--ef-construction 200]
//         [--ef 10,16,24,32,48,64,96,128] [--k 10] [--runs 3] [--label NAME]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnswlib/hnswlib.h"
#include "sagevec_space.h"

namespace {

struct Npy {
  std::vector<char> bytes;
  std::string descr;
  size_t rows = 0, cols = 1;
};

Npy read_npy(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  char magic[8];
  f.read(magic, 8);
  if (std::memcmp(magic, "\x93NUMPY", 6) != 0) throw std::runtime_error(path + ": not a .npy file");
  size_t header_len = 0;
  if (magic[6] == 1) {
    unsigned char l[2];
    f.read(reinterpret_cast<char *>(l), 2);
    header_len = l[0] | (l[1] << 8);
  } else {
    unsigned char l[4];
    f.read(reinterpret_cast<char *>(l), 4);
    header_len = l[0] | (l[1] << 8) | (l[2] << 16) | (size_t(l[3]) << 24);
  }
  std::string header(header_len, ' ');
  f.read(&header[0], header_len);
  Npy out;
  auto field = [&](const char *key) {
    size_t p = header.find(key);
    if (p == std::string::npos) throw std::runtime_error(path + ": no " + key);
    return header.substr(p + std::strlen(key));
  };
  std::string d = field("'descr': '");
  out.descr = d.substr(0, d.find('\''));
  if (field("'fortran_order': ").rfind("False", 0) != 0) throw std::runtime_error(path + ": Fortran order");
  std::string s = field("'shape': (");
  out.rows = std::stoull(s);
  size_t comma = s.find(',');
  if (comma != std::string::npos && s[comma + 1] != ')') out.cols = std::stoull(s.substr(comma + 1));
  std::ostringstream rest;
  rest << f.rdbuf();
  std::string body = rest.str();
  out.bytes.assign(body.begin(), body.end());
  return out;
}

std::vector<float> floats(const Npy &n, const std::string &what) {
  if (n.descr != "<f4") throw std::runtime_error(what + ": expected float32, got " + n.descr);
  std::vector<float> v(n.rows * n.cols);
  if (n.bytes.size() < v.size() * 4) throw std::runtime_error(what + ": truncated");
  std::memcpy(v.data(), n.bytes.data(), v.size() * 4);
  return v;
}

std::vector<int64_t> ints(const Npy &n, const std::string &what) {
  std::vector<int64_t> v(n.rows * n.cols);
  if (n.descr == "<i4") {
    if (n.bytes.size() < v.size() * 4) throw std::runtime_error(what + ": truncated");
    for (size_t i = 0; i < v.size(); ++i) {
      int32_t x;
      std::memcpy(&x, n.bytes.data() + 4 * i, 4);
      v[i] = x;
    }
  } else if (n.descr == "<i8") {
    if (n.bytes.size() < v.size() * 8) throw std::runtime_error(what + ": truncated");
    std::memcpy(v.data(), n.bytes.data(), v.size() * 8);
  } else {
    throw std::runtime_error(what + ": expected int32 or int64, got " + n.descr);
  }
  return v;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char **argv) {
  std::string data, space_name = "hnswlib", label, efs = "10,16,24,32,48,64,96,128";
  size_t m = 16, ef_c = 200, k = 10, runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--data") data = v;
    else if (a == "--space") space_name = v;
    else if (a == "--m") m = std::stoul(v);
    else if (a == "--ef-construction") ef_c = std::stoul(v);
    else if (a == "--ef") efs = v;
    else if (a == "--k") k = std::stoul(v);
    else if (a == "--runs") runs = std::stoul(v);
    else if (a == "--label") label = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (data.empty()) {
    std::fprintf(stderr, "usage: bench --data DIR --space hnswlib|sagevec ...\n");
    return 2;
  }
  if (label.empty()) label = space_name;
  try {
    Npy base_n = read_npy(data + "/base.npy"), q_n = read_npy(data + "/queries.npy");
    Npy gt_n = read_npy(data + "/gt_ids.npy");
    std::vector<float> base = floats(base_n, "base"), queries = floats(q_n, "queries");
    std::vector<int64_t> gt = ints(gt_n, "gt_ids");
    size_t n = base_n.rows, dim = base_n.cols, nq = q_n.rows;
    if (q_n.cols != dim || gt_n.rows != nq || gt_n.cols < k) throw std::runtime_error("shapes disagree");

    std::unique_ptr<hnswlib::SpaceInterface<float>> space;
    if (space_name == "hnswlib") space.reset(new hnswlib::L2Space(dim));
    else if (space_name == "sagevec") space.reset(new sagevec_hnswlib::Space(dim, SAGEVEC_METRIC_L2));
    else throw std::runtime_error("--space must be hnswlib or sagevec");

    hnswlib::HierarchicalNSW<float> index(space.get(), n, m, ef_c, 100);
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < n; ++i) index.addPoint(base.data() + i * dim, i);
    double build_s = seconds_since(t0);
    std::printf("{\"label\":\"%s\",\"n\":%zu,\"dim\":%zu,\"m\":%zu,\"ef_construction\":%zu,\"build_s\":%.4f}\n",
                label.c_str(), n, dim, m, ef_c, build_s);
    std::fflush(stdout);

    std::stringstream ss(efs);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
      size_t ef = std::stoul(tok);
      index.setEf(ef);
      std::vector<double> times;
      size_t hits = 0;
      for (size_t r = 0; r < runs; ++r) {
        hits = 0;
        auto t1 = std::chrono::steady_clock::now();
        for (size_t q = 0; q < nq; ++q) {
          auto res = index.searchKnn(queries.data() + q * dim, k);
          while (!res.empty()) {
            int64_t id = static_cast<int64_t>(res.top().second);
            res.pop();
            const int64_t *truth = gt.data() + q * gt_n.cols;
            hits += std::find(truth, truth + k, id) != truth + k;
          }
        }
        times.push_back(seconds_since(t1));
      }
      std::sort(times.begin(), times.end());
      double median = times[times.size() / 2];
      std::printf("{\"label\":\"%s\",\"ef\":%zu,\"recall\":%.4f,\"qps\":%.1f}\n", label.c_str(), ef,
                  double(hits) / double(nq * k), double(nq) / median);
      std::fflush(stdout);
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
