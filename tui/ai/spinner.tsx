// A spinner with a label, for steps that take a while (a model call, scoring a large history).
import { useEffect, useState } from "react";
import { Text } from "ink";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export interface SpinnerProps {
  label: string;
  /**
   * Milliseconds per frame.
   * @default 100
   */
  interval?: number;
}

export function Spinner({ label, interval = 100 }: SpinnerProps) {
  const [frame, setFrame] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setFrame((f) => (f + 1) % FRAMES.length), interval);
    return () => clearInterval(timer);
  }, [interval]);
  return (
    <Text color="cyan" wrap="truncate-end">
      {FRAMES[frame]} {label}
    </Text>
  );
}
