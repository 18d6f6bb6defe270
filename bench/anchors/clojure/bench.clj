;; CSP performance anchors W1-W8 in Clojure core.async (Debian libcore-async-clojure 1.5.648).
;; Run: see README.md.  Args: [scale] [reps] [W1 W2 ...]
;; Each workload runs `reps` times in one JVM (default 5); the printed figure is the
;; median of runs 2..reps (warm), the first run is shown as (cold ...).
(ns csp-bench
  (:require [clojure.core.async :as a :refer [chan go go-loop >! <! >!! <!! alts! timeout close!]]))

(set! *warn-on-reflection* true)

(def args (vec *command-line-args*))
(def scale (if (and (seq args) (re-matches #"[0-9.]+" (first args))) (Double/parseDouble (first args)) 1.0))
(def args1 (if (and (seq args) (re-matches #"[0-9.]+" (first args))) (rest args) args))
(def reps (if (and (seq args1) (re-matches #"[0-9]+" (first args1))) (Long/parseLong (first args1)) 5))
(def wanted (set (map #(.toUpperCase ^String %) (if (and (seq args1) (re-matches #"[0-9]+" (first args1))) (rest args1) args1))))

(defn n-of ^long [^long base] (max 1 (Math/round (* (double base) (double scale)))))
(defn check [ok what] (when-not ok (binding [*out* *err*] (println "check failed:" what)) (System/exit 1)))
(defn tri ^long [^long n] (quot (* n (dec n)) 2))

(defn w1 []
  (let [n (n-of 1000000) a (chan) b (chan)]
    (go-loop [] (when-some [v (<! a)] (>! b (inc v)) (recur)))
    (let [t0 (System/nanoTime)
          s (<!! (go-loop [i 0 s 0] (if (< i n) (do (>! a i) (recur (inc i) (+ s (<! b)))) s)))
          el (- (System/nanoTime) t0)]
      (close! a)
      (check (= s (+ (tri n) n)) "w1")
      (/ el (double n)))))

(defn spsc [n c]
  (let [t0 (System/nanoTime)
        res (go-loop [i 0 s 0] (if (< i n) (recur (inc i) (+ s (<! c))) s))]
    (go-loop [i 0] (when (< i n) (>! c i) (recur (inc i))))
    (let [s (<!! res) el (- (System/nanoTime) t0)]
      (check (= s (tri n)) "spsc")
      (/ el (double n)))))

(defn w2 [] (spsc (n-of 10000000) (chan 1024)))
(defn w3 [] (spsc (n-of 1000000) (chan)))

(defn w4 []
  (let [per (n-of 2500000) c (chan 1024) t0 (System/nanoTime)
        cons (doall (for [_ (range 4)] (go-loop [i 0 s 0] (if (< i per) (recur (inc i) (+ s (<! c))) s))))]
    (dotimes [_ 4] (go-loop [i 0] (when (< i per) (>! c i) (recur (inc i)))))
    (let [s (reduce + (map <!! cons)) el (- (System/nanoTime) t0)]
      (check (= s (* 4 (tri per))) "w4")
      (/ el (double (* 4 per))))))

(defn w5 []
  (let [per (n-of 10000) n (* 100 per) t0 (System/nanoTime)
        chs (vec (repeatedly 100 chan))]
    (doseq [c chs] (go-loop [i 0] (when (< i per) (>! c 1) (recur (inc i)))))
    (let [s (<!! (go-loop [i 0 s 0] (if (< i n) (let [[v _] (alts! chs)] (recur (inc i) (+ s v))) s)))
          el (- (System/nanoTime) t0)]
      (check (= s n) "w5")
      (/ el (double n)))))

;; W6 (daisy chain, bench/anchors/SPEC.md): n+1 unbuffered channels and n go blocks;
;; go block i takes v from c[i] and puts v+1 on c[i+1]; main puts 0 on c[0] and takes
;; from c[n]. Every channel has at most one pending operation. (The first form of W6,
;; n go blocks putting on one channel, is not expressible: core.async allows at most
;; 1024 pending puts per channel.)
(defn w6 []
  (let [n (n-of 1000000) t0 (System/nanoTime)
        ^objects chs (object-array (inc n))]
    (dotimes [i (inc n)] (aset chs i (chan)))
    (dotimes [i n]
      (let [in (aget chs i) out (aget chs (inc i))]
        (go (>! out (inc (<! in))))))
    (>!! (aget chs 0) 0)
    (let [v (<!! (aget chs n)) el (- (System/nanoTime) t0)]
      (check (= v n) "w6")
      (/ el (double n)))))

;; W6w spawns in waves of 1024 (spawn 1024, take 1024), so at most 1024 puts are ever
;; pending on the shared channel.
(defn w6w []
  (let [n (n-of 1000000) c (chan 1024) t0 (System/nanoTime)
        s (loop [done 0 s 0]
            (if (< done n)
              (let [k (min 1024 (- n done))]
                (dotimes [j k] (let [id (+ done j)] (go (>! c id))))
                (recur (+ done k) (long (loop [j 0 s s] (if (< j k) (recur (inc j) (+ s (long (<!! c)))) s)))))
              s))
        el (- (System/nanoTime) t0)]
    (check (= s (tri n)) "w6w")
    (/ el (double n))))

(defn w7 []
  (let [p 503 n (n-of 10000000) chs (vec (repeatedly p chan)) done (chan)]
    (dotimes [i p]
      (let [in (chs i) out (chs (mod (inc i) p))]
        (go-loop [] (when-some [v (<! in)] (if (zero? v) (>! done 0) (do (>! out (dec v)) (recur)))))))
    (let [t0 (System/nanoTime)]
      (>!! (chs 0) n) (<!! done)
      (let [el (- (System/nanoTime) t0)] (doseq [c chs] (close! c)) (/ el (double n))))))

(defn durations [n]
  (loop [i 0 x (unchecked-long 42) out (transient [])]
    (if (< i n)
      (let [x (unchecked-add (unchecked-multiply x 6364136223846793005) 1442695040888963407)]
        (recur (inc i) x (conj! out (inc (Long/remainderUnsigned (unsigned-bit-shift-right x 33) 100)))))
      (persistent! out))))

;; W8 with core.async's own `timeout` is not expressible at this size: `timeout` hands out
;; one shared channel for deadlines within 10 ms of each other, so thousands of go blocks
;; end up waiting on one channel and core.async throws "No more than 1024 pending takes
;; are allowed on a single channel". W8 here therefore gives each go block its own
;; channel, closed by one ScheduledThreadPoolExecutor thread (the same structure as
;; core.async's timer thread, minus the sharing). The result channel has room for all n.
(def ^java.util.concurrent.ScheduledThreadPoolExecutor timer-pool
  (doto (java.util.concurrent.ScheduledThreadPoolExecutor. 1)
    (.setRemoveOnCancelPolicy true)))
(defn own-timeout [^long ms]
  (let [c (chan)]
    (.schedule timer-pool ^Runnable (fn [] (close! c)) ms java.util.concurrent.TimeUnit/MILLISECONDS)
    c))

(defn w8-with [timeout-fn]
  (let [n (n-of 100000) ds (durations n) late (chan n) t0 (System/nanoTime)]
    (doseq [ms ds]
      (go (let [s (System/nanoTime)]
            (<! (timeout-fn ms))
            (>! late (/ (- (System/nanoTime) s (* ms 1000000)) 1e6)))))
    (let [ls (vec (sort (repeatedly n #(<!! late)))) el (- (System/nanoTime) t0)]
      [(/ el 1e6) (ls (quot n 2)) (ls (quot (* n 99) 100))])))
(defn w8 [] (w8-with own-timeout))

(defn median [xs] (let [v (vec (sort xs))] (v (quot (count v) 2))))
(defn run [id label unit f]
  (when (or (empty? wanted) (wanted id))
    (let [rs (vec (for [_ (range reps)] (f)))
          warm (if (> reps 1) (median (rest rs)) (first rs))]
      (println (format "%s %s: %.1f %s (cold %.1f)" id label warm unit (first rs)))
      (flush))))

(binding [*out* *err*] (println (format "# core.async %s clojure %s java %s scale=%s reps=%d pool=%s" "1.5.648"
                                        (clojure-version) (System/getProperty "java.version") scale reps
                                        (System/getProperty "clojure.core.async.pool-size" "8"))))
(run "W1" "pingpong" "ns/round-trip" w1)
(run "W2" "spsc-buffered" "ns/msg" w2)
(run "W3" "spsc-unbuffered" "ns/msg" w3)
(run "W4" "mpmc" "ns/msg" w4)
(run "W5" "fan-in-select" "ns/msg" w5)
(run "W7" "ring" "ns/hop" w7)
(run "W6W" "spawn-waves" "ns/process" w6w)
(run "W6" "spawn" "ns/process" w6)
(when (or (empty? wanted) (wanted "W8"))
  (let [rs (vec (for [_ (range reps)] (w8)))
        pick (fn [k] (median (map #(% k) (if (> reps 1) (rest rs) rs))))]
    (println (format "W8 timers: %.1f ms total, lateness p50 %.3f ms, p99 %.3f ms (cold %.1f ms total)"
                     (pick 0) (pick 1) (pick 2) ((first rs) 0)))))
(shutdown-agents)
(System/exit 0)
