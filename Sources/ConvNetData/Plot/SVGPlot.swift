import Foundation

/// A line chart as SVG, in the style of D2L's training plots (epochs on x, one line per series).
public struct LinePlot {
    /// One line of the chart.
    public struct Series {
        /// The legend entry.
        public let name: String
        /// One value per epoch.
        public let values: [Double]
        /// The stroke colour (any SVG colour).
        public let color: String
        /// Whether the line is dashed.
        public let dashed: Bool
    }
    /// The chart's title.
    public var title: String
    /// The x axis label.
    public var xLabel: String
    /// The lines, in the order they were added.
    public var series: [Series] = []

    /// An empty chart.
    public init(title: String, xLabel: String = "epoch") { self.title = title; self.xLabel = xLabel }

    /// Adds a line: `values[i]` at x = i + 1, in `color` (any SVG colour), dashed if asked.
    public mutating func add(_ name: String, _ values: [Double], color: String, dashed: Bool = false) {
        series.append(Series(name: name, values: values, color: color, dashed: dashed))
    }

    /// The chart as an SVG document of `width`×`height` pixels.
    public func svg(width: Int = 640, height: Int = 400) -> String {
        let left = 60.0, right = 150.0, top = 40.0, bottom = 50.0
        let pw = Double(width) - left - right, ph = Double(height) - top - bottom
        let n = series.map(\.values.count).max() ?? 0
        let all = series.flatMap(\.values).filter { $0.isFinite }
        var lo = all.min() ?? 0, hi = all.max() ?? 1
        lo = Swift.min(lo, 0); if hi <= lo { hi = lo + 1 }
        let xs: (Int) -> Double = { i in left + (n <= 1 ? pw / 2 : pw * Double(i) / Double(n - 1)) }
        let ys: (Double) -> Double = { v in top + ph * (1 - (v - lo) / (hi - lo)) }
        func esc(_ s: String) -> String { s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;") }
        var out = [
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"12\">",
            "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
            "<text x=\"\(left + pw / 2)\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">\(esc(title))</text>",
        ]
        for k in 0...5 {
            let v = lo + (hi - lo) * Double(k) / 5, y = ys(v)
            out.append("<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(left + pw)\" y2=\"\(y)\" stroke=\"#ddd\"/>")
            out.append("<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(String(format: "%.2f", v))</text>")
        }
        for i in 0..<n {
            out.append("<text x=\"\(xs(i))\" y=\"\(top + ph + 18)\" text-anchor=\"middle\">\(i + 1)</text>")
        }
        out.append("<text x=\"\(left + pw / 2)\" y=\"\(Double(height) - 10)\" text-anchor=\"middle\">\(esc(xLabel))</text>")
        out.append("<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"none\" stroke=\"#333\"/>")
        for (k, s) in series.enumerated() {
            let pts = s.values.enumerated().filter { $0.element.isFinite }.map { "\(xs($0.offset)),\(ys($0.element))" }.joined(separator: " ")
            out.append("<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "") points=\"\(pts)\"/>")
            for (i, v) in s.values.enumerated() where v.isFinite {
                out.append("<circle cx=\"\(xs(i))\" cy=\"\(ys(v))\" r=\"3\" fill=\"\(s.color)\"/>")
            }
            let ly = top + 20 + Double(k) * 20
            out.append("<line x1=\"\(left + pw + 12)\" y1=\"\(ly)\" x2=\"\(left + pw + 36)\" y2=\"\(ly)\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>")
            out.append("<text x=\"\(left + pw + 42)\" y=\"\(ly + 4)\">\(esc(s.name))</text>")
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }
}
