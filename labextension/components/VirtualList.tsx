/**
 * A scroll container that renders only the rows in view (plus a few either side).
 *
 * Every row has the same height, so the row under any scroll offset is a division away and
 * the list costs the same with 50 rows or 10,000: the DOM holds about `height / rowHeight +
 * 2 * overscan` rows, absolutely placed inside a spacer as tall as the whole list.
 */
import React, { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';

export interface IVirtualListProps<T> {
  items: readonly T[];
  /** Pixels; every row is exactly this tall. */
  rowHeight: number;
  /** Rows rendered beyond each edge of the view, so a fast scroll shows no blank gap. */
  overscan?: number;
  itemKey: (item: T) => string;
  /** `style` places the row; the element returned must apply it. */
  renderItem: (item: T, index: number, style: React.CSSProperties) => React.ReactElement;
  /** Called with the rows in view [first, end) whenever they change (to fetch more). */
  onVisibleRange?: (first: number, end: number) => void;
  /** Scroll back to the top whenever this changes (new filters: a new list). */
  resetKey?: string;
  className?: string;
  testId?: string;
  ariaLabel?: string;
}

interface IViewport {
  top: number;
  height: number;
}

export function VirtualList<T>(props: IVirtualListProps<T>): React.ReactElement {
  const { items, rowHeight, overscan = 6, onVisibleRange } = props;
  const container = useRef<HTMLDivElement>(null);
  const frame = useRef<number | null>(null);
  const [viewport, setViewport] = useState<IViewport>({ top: 0, height: 0 });

  const measure = useCallback(() => {
    const node = container.current;
    if (node === null) {
      return;
    }
    setViewport(old =>
      old.top === node.scrollTop && old.height === node.clientHeight
        ? old
        : { top: node.scrollTop, height: node.clientHeight }
    );
  }, []);

  // One state update per animation frame however many scroll events arrive.
  const onScroll = useCallback(() => {
    if (frame.current === null) {
      frame.current = requestAnimationFrame(() => {
        frame.current = null;
        measure();
      });
    }
  }, [measure]);

  useLayoutEffect(() => {
    const node = container.current;
    if (node === null) {
      return;
    }
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(node);
    return () => {
      observer.disconnect();
      if (frame.current !== null) {
        cancelAnimationFrame(frame.current);
        frame.current = null;
      }
    };
  }, [measure]);

  useLayoutEffect(() => {
    if (container.current !== null) {
      container.current.scrollTop = 0;
    }
    measure();
  }, [props.resetKey, measure]);

  const visibleFirst = Math.min(items.length, Math.floor(viewport.top / rowHeight));
  const bottom = viewport.top + viewport.height;
  const visibleEnd = Math.min(items.length, Math.ceil(bottom / rowHeight));
  const first = Math.max(0, visibleFirst - overscan);
  const end = Math.min(items.length, visibleEnd + overscan);

  useEffect(() => {
    onVisibleRange?.(visibleFirst, visibleEnd);
  }, [visibleFirst, visibleEnd, items.length, onVisibleRange]);

  const rows: React.ReactElement[] = [];
  for (let index = first; index < end; index++) {
    const item = items[index];
    const style: React.CSSProperties = {
      position: 'absolute',
      top: index * rowHeight,
      height: rowHeight,
      left: 0,
      right: 0
    };
    rows.push(
      <React.Fragment key={props.itemKey(item)}>
        {props.renderItem(item, index, style)}
      </React.Fragment>
    );
  }

  return (
    <div
      ref={container}
      className={props.className}
      data-testid={props.testId}
      onScroll={onScroll}
      role="list"
      aria-label={props.ariaLabel}
      tabIndex={0}
    >
      <div style={{ position: 'relative', height: items.length * rowHeight }}>{rows}</div>
    </div>
  );
}
